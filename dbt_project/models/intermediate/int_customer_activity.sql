-- The activity that keeps a customer alive, one row per customer and active day: payments
-- (purchases, subscription payments) and interactions the customer started. Eligibility and
-- lapses are measured on it. A day is fine-grained enough: every window over it starts and ends
-- at midnight (the cutoff is the start of the day after as_of), and a silence of horizon_days
-- can only start at the last activity of a day, so the first and last instant of each day are
-- all the later models need (about half the rows of one per event).
--
-- Incremental like int_customer_days: the customer-days with payments or inbound days loaded
-- since the last build (or within event_lookback_days of the newest activity) are recomputed
-- from both sources and merged.
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

payments as (

    select
        customer_id,
        cast(occurred_at as date) as activity_date,
        occurred_at as first_at,
        occurred_at as last_at,
        loaded_at
    from {{ ref('stg_transactions') }}
    where is_payment

),

inbound_days as (

    select
        customer_id,
        activity_date,
        first_inbound_at as first_at,
        last_inbound_at as last_at,
        loaded_at
    from {{ ref('int_customer_days') }}

),

{% if reprocess_all %}
in_scope as (

    select * from payments
    union all
    select * from inbound_days

),
{% else %}
{{ touched_days_in_scope(['payments', 'inbound_days'], 'activity_date', 'last_at', 'last_activity_at') }}
{% endif %}

days as (

    select
        customer_id,
        activity_date,
        min(first_at) as first_activity_at,
        max(last_at) as last_activity_at,
        max(loaded_at) as loaded_at
    from in_scope
    group by customer_id, activity_date

)

select * from days
