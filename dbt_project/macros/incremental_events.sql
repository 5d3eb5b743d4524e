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

{#- The customer-day models (int_customer_days, int_customer_activity), merged on
    (customer_id, activity_date) and carrying loaded_at, the newest load time of their events.

    days_reprocess_all(): true on a full build, and when the built table has no loaded_at yet.

    touched_days_in_scope(sources, day_column, at_column, built_at): the CTEs `watermark`,
    `touched` (the customer-days of rows of the `sources` CTEs loaded after the newest loaded_at
    already built, or whose `at_column` is within event_lookback_days of the newest `built_at`)
    and `in_scope` (every row of the sources on those days, so each day is recomputed whole).
    Every source has the columns customer_id, loaded_at, `day_column` and `at_column`. -#}

{% macro days_reprocess_all() -%}
    {%- if not is_incremental() -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {{ return('loaded_at' not in built) }}
{%- endmacro %}

{% macro touched_days_in_scope(sources, day_column, at_column, built_at) -%}
watermark as (

    select max(loaded_at) as last_loaded_at, max({{ built_at }}) as last_at
    from {{ this }}

),

-- each source on its own: scanning a union of the sources took five times as long
touched as (
    {%- for source in sources %}

    select distinct {{ source }}.customer_id, {{ source }}.{{ day_column }} as activity_date
    from {{ source }}
    cross join watermark
    where watermark.last_loaded_at is null
       or {{ source }}.loaded_at > watermark.last_loaded_at
       or {{ source }}.{{ at_column }} >= {{ dbt.dateadd('day', -var('event_lookback_days'), 'watermark.last_at') }}
    {% if not loop.last %}
    union
    {%- endif %}
    {%- endfor %}

),

in_scope as (
    {%- for source in sources %}

    select {{ source }}.*
    from {{ source }}
    inner join touched
        on {{ source }}.customer_id = touched.customer_id
        and {{ source }}.{{ day_column }} = touched.activity_date
    {% if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),
{%- endmacro %}
