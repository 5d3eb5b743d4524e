-- One row per customer and day with any interaction the customer started: how many, and how
-- many of them were logins and feature uses. Engagement windows read these days instead of
-- every event (an order of magnitude fewer rows); a day belongs to the as-of dates from that
-- day on, so the point-in-time boundary is the same as the events'.
--
-- Incremental: a run recomputes, from all of their events, the customer-days of the events
-- loaded since the last build or within event_lookback_days of the newest one already built,
-- and merges them (events are never removed, so an untouched day keeps its counts).
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['customer_id', 'activity_date'],
        on_schema_change='sync_all_columns'
    )
}}
{%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list
        if is_incremental() else [] %}
{%- set reprocess_all = 'loaded_at' not in built %}

with

interactions as (

    select * from {{ ref('int_interactions_enriched') }}
    where is_inbound

),

{% if reprocess_all %}
in_scope as (

    select * from interactions

),
{% else %}
touched as (

    select distinct interactions.customer_id, cast(interactions.occurred_at as date) as activity_date
    from interactions
    cross join (
        select max(loaded_at) as last_loaded_at, max(last_inbound_at) as last_occurred_at
        from {{ this }}
    ) as watermark
    where watermark.last_loaded_at is null
       or interactions.loaded_at > watermark.last_loaded_at
       or interactions.occurred_at >= {{ dbt.dateadd('day', -var('event_lookback_days'), 'watermark.last_occurred_at') }}

),

-- every event of a touched day, so the day's counts are whole
in_scope as (

    select interactions.*
    from interactions
    inner join touched
        on interactions.customer_id = touched.customer_id
        and cast(interactions.occurred_at as date) = touched.activity_date

),
{% endif %}

days as (

    select
        customer_id,
        cast(occurred_at as date) as activity_date,
        count(*) as inbound,
        sum(case when interaction_type = 'login' then 1 else 0 end) as logins,
        sum(case when interaction_type = 'feature_use' then 1 else 0 end) as feature_uses,
        min(occurred_at) as first_inbound_at,
        max(occurred_at) as last_inbound_at,
        max(loaded_at) as loaded_at
    from in_scope
    group by customer_id, cast(occurred_at as date)

)

select * from days
