-- One row per customer and as-of date on which the customer had signed up.
with

customers as (

    select * from {{ ref('int_customers_unified') }}

),

as_of_dates as (

    select * from {{ ref('int_as_of_dates') }}

),

spine as (

    select
        customers.customer_id,
        as_of_dates.as_of,
        as_of_dates.cutoff_at,
        as_of_dates.is_scoring_date,
        as_of_dates.label_observed,
        customers.signup_at,
        -- from when the customer's history is observed: signup, or the first day of data
        case when customers.signup_at > as_of_dates.data_start_at then customers.signup_at
             else as_of_dates.data_start_at end as observed_from
    from customers
    cross join as_of_dates
    where customers.signup_at < as_of_dates.cutoff_at

)

select * from spine
