-- Every customer the business knows of: the customers feed plus ids seen only in events
-- (their signup falls back to their first event).
with

customers as (

    select * from {{ ref('stg_customers') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

interactions as (

    select * from {{ ref('stg_interactions') }}

),

first_events as (

    select customer_id, min(occurred_at) as first_event_at
    from (
        select customer_id, occurred_at from transactions
        union all
        select customer_id, occurred_at from interactions
    ) as events
    group by customer_id

),

unified as (

    select
        coalesce(customers.customer_id, first_events.customer_id) as customer_id,
        coalesce(customers.signup_at, first_events.first_event_at) as signup_at,
        customers.segment,
        customers.plan,
        customers.region,
        customers.account_owner,
        customers.customer_id is not null as in_customer_feed
    from customers
    full outer join first_events
        on customers.customer_id = first_events.customer_id

)

select * from unified
