-- The activity that keeps a customer alive, one row per customer and active day: payments
-- (purchases, subscription payments) and interactions the customer started. Eligibility and
-- lapses are measured on it. A day is fine-grained enough: every window over it starts and ends
-- at midnight (the cutoff is the start of the day after as_of), and a silence of horizon_days
-- can only start at the last activity of a day, so the first and last instant of each day are
-- all the later models need (about half the rows of one per event).
with

payments as (

    select * from {{ ref('stg_transactions') }}
    where is_payment

),

inbound_days as (

    select * from {{ ref('int_customer_days') }}

),

activity as (

    select
        customer_id,
        cast(occurred_at as date) as activity_date,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at
    from payments
    group by customer_id, cast(occurred_at as date)

    union all

    select customer_id, activity_date, first_inbound_at as first_at, last_inbound_at as last_at
    from inbound_days

),

days as (

    select
        customer_id,
        activity_date,
        min(first_at) as first_activity_at,
        max(last_at) as last_activity_at
    from activity
    group by customer_id, activity_date

)

select * from days
