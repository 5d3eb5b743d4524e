{#- Shared logic of the incremental event models (models/intermediate/events).

    events_reprocess_all(upstream): true on a full build, and when the built table lacks a
    column the upstream model now has (a warehouse built by an older version): every event is
    reprocessed then, so the merge fills the new column on every row, as a full refresh would.

    changed_events(events_cte): the events of `events_cte` a run must reprocess: loaded after
    the newest loaded_at already built, or within event_lookback_days of the newest occurred_at
    already built (late and re-delivered events are absorbed). -#}

{% macro events_reprocess_all(upstream) -%}
    {%- if not is_incremental() -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- set wanted = adapter.get_columns_in_relation(upstream) | map(attribute='name') | map('lower') | list -%}
    {{ return(wanted | reject('in', built) | list | length > 0) }}
{%- endmacro %}

{% macro changed_events(events_cte) -%}
    select {{ events_cte }}.*
    from {{ events_cte }}
    cross join (
        select
            max(loaded_at) as last_loaded_at,
            max(occurred_at) as last_occurred_at
        from {{ this }}
    ) as watermark
    where watermark.last_loaded_at is null  -- the table is empty
       or {{ events_cte }}.loaded_at > watermark.last_loaded_at
       or {{ events_cte }}.occurred_at >= {{ dbt.dateadd('day', -var('event_lookback_days'), 'watermark.last_occurred_at') }}
{%- endmacro %}
