-- Eligibility and churn label per customer and as-of date.
-- Eligible: signed up, not cancelled, and a payment or inbound interaction within the
-- horizon before the cutoff. Churned: a cancellation, or no payment and no inbound
-- interaction within horizon_days after the cutoff. Null while the horizon is not observed.
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

interactions as (

    select * from {{ ref('stg_interactions') }}

),

activity as (

    select customer_id, occurred_at, 0 as is_cancellation
    from transactions
    where is_payment

    union all

    select customer_id, occurred_at, 1 as is_cancellation
    from transactions
    where transaction_type = 'cancellation'

    union all

    select customer_id, occurred_at, 0 as is_cancellation
    from interactions
    where is_inbound

),

around_cutoff as (

    select
        spine.customer_id,
        spine.as_of,
        spine.label_observed,
        sum(case when activity.occurred_at < spine.cutoff_at and activity.is_cancellation = 0 then 1 else 0 end) as active_before,
        sum(case when activity.occurred_at >= spine.cutoff_at and activity.is_cancellation = 0 then 1 else 0 end) as active_after,
        max(case when activity.occurred_at >= spine.cutoff_at then activity.is_cancellation else 0 end) as cancelled_after
    from spine
    left join activity
        on activity.customer_id = spine.customer_id
        and activity.occurred_at >= {{ dbt.dateadd('day', -var('horizon_days'), 'spine.cutoff_at') }}
        and activity.occurred_at < {{ dbt.dateadd('day', var('horizon_days'), 'spine.cutoff_at') }}
    group by spine.customer_id, spine.as_of, spine.label_observed

),

cancelled_ever as (

    select customer_id, min(occurred_at) as first_cancelled_at
    from transactions
    where transaction_type = 'cancellation'
    group by customer_id

),

labels as (

    select
        around_cutoff.customer_id,
        around_cutoff.as_of,
        around_cutoff.active_before > 0
            and (cancelled_ever.first_cancelled_at is null
                 or cancelled_ever.first_cancelled_at >= spine.cutoff_at) as is_eligible,
        case
            when not around_cutoff.label_observed then null
            when around_cutoff.cancelled_after = 1 or around_cutoff.active_after = 0 then 1
            else 0
        end as churned
    from around_cutoff
    inner join spine
        on around_cutoff.customer_id = spine.customer_id
        and around_cutoff.as_of = spine.as_of
    left join cancelled_ever
        on around_cutoff.customer_id = cancelled_ever.customer_id

)

select * from labels
