-- One row per known customer with their current attributes (no personal data).
with

customers as (

    select * from {{ ref('int_customers_unified') }}

)

select
    customer_id,
    signup_at,
    segment,
    plan,
    region,
    account_owner,
    in_customer_feed
from customers
