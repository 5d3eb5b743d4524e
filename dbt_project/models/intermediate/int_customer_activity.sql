-- The activity that keeps a customer alive: payments (purchases, subscription payments) and
-- interactions the customer started. Eligibility and lapses are measured on it.
with

transactions as (

    select * from {{ ref('stg_transactions') }}

),

interactions as (

    select * from {{ ref('stg_interactions') }}

),

activity as (

    select customer_id, occurred_at from transactions where is_payment
    union all
    select customer_id, occurred_at from interactions where is_inbound

)

select * from activity
