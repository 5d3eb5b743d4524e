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
{%- set reprocess_all = days_reprocess_all() %}

with

interactions as (

    select *, cast(occurred_at as date) as activity_date
    from {{ ref('stg_interactions') }}
    where is_inbound

),

{% if reprocess_all %}
in_scope as (

    select * from interactions

),
{% else %}
{{ touched_days_in_scope(['interactions'], 'activity_date', 'occurred_at', 'last_inbound_at') }}
{% endif %}

days as (

    select
        customer_id,
        activity_date,
        count(*) as inbound,
        sum(case when interaction_type = 'login' then 1 else 0 end) as logins,
        sum(case when interaction_type = 'feature_use' then 1 else 0 end) as feature_uses,
        min(occurred_at) as first_inbound_at,
        max(occurred_at) as last_inbound_at,
        max(loaded_at) as loaded_at
    from in_scope
    group by customer_id, activity_date

)

select * from days
