-- Eligibility and churn label per customer and as-of date.
-- Eligible: signed up, not cancelled, and a payment or inbound interaction within the
-- horizon before the cutoff. Churned: the customer cancels within horizon_days after the
-- cutoff, or lapses within it: their last activity before a silence of at least horizon_days
-- (no payment, no inbound interaction) falls before cutoff + horizon_days. Null while that is
-- not yet observable (it needs two horizons of data after as_of).
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

activity as (

    select * from {{ ref('int_customer_activity') }}

),

lapses as (

    select * from {{ ref('int_activity_lapses') }}

),

cancellations as (

    select customer_id, occurred_at from transactions where transaction_type = 'cancellation'

),

active_before as (

    select spine.customer_id, spine.as_of, count(*) as activities
    from spine
    inner join activity
        on activity.customer_id = spine.customer_id
        and {{ in_window('activity.occurred_at', 'spine.cutoff_at', var('horizon_days')) }}
    group by spine.customer_id, spine.as_of

),

cancelled as (

    select
        spine.customer_id,
        spine.as_of,
        max(case when cancellations.occurred_at < spine.cutoff_at then 1 else 0 end) as cancelled_before,
        max(case when cancellations.occurred_at >= spine.cutoff_at
                  and cancellations.occurred_at < {{ dbt.dateadd('day', var('horizon_days'), 'spine.cutoff_at') }}
                 then 1 else 0 end) as cancelled_within
    from spine
    inner join cancellations
        on cancellations.customer_id = spine.customer_id
    group by spine.customer_id, spine.as_of

),

lapsed as (

    -- a lapse starting inside the eligibility window before the cutoff or the horizon after it
    select spine.customer_id, spine.as_of, 1 as lapsed_within
    from spine
    inner join lapses
        on lapses.customer_id = spine.customer_id
        and lapses.lapse_started_at >= {{ dbt.dateadd('day', -var('horizon_days'), 'spine.cutoff_at') }}
        and lapses.lapse_started_at < {{ dbt.dateadd('day', var('horizon_days'), 'spine.cutoff_at') }}
    group by spine.customer_id, spine.as_of

),

labels as (

    select
        spine.customer_id,
        spine.as_of,
        coalesce(active_before.activities, 0) > 0
            and coalesce(cancelled.cancelled_before, 0) = 0 as is_eligible,
        case
            when not spine.label_observed then null
            when coalesce(cancelled.cancelled_within, 0) = 1 or lapsed.lapsed_within = 1 then 1
            else 0
        end as churned
    from spine
    left join active_before
        on spine.customer_id = active_before.customer_id
        and spine.as_of = active_before.as_of
    left join cancelled
        on spine.customer_id = cancelled.customer_id
        and spine.as_of = cancelled.as_of
    left join lapsed
        on spine.customer_id = lapsed.customer_id
        and spine.as_of = lapsed.as_of

)

select * from labels
