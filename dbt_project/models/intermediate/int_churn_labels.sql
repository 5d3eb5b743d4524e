-- Eligibility and churn label per customer and as-of date.
-- Eligible: signed up, not cancelled, and a payment or inbound interaction within the
-- horizon before the cutoff. Churned, judged only on what happens after the cutoff:
--   * a cancellation within horizon_days, or
--   * no payment and no inbound interaction at all within horizon_days, or
--   * a lapse that starts within horizon_days: a last activity followed by a silence of at
--     least horizon_days (the customer who stops half-way through the horizon).
-- Null while that is not yet observable (a lapse starting late in the horizon needs a second
-- horizon of data).
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

-- activity is by day and every bound below is a midnight, so a day's first instant is on the
-- same side of each bound as all of that day's activity
active_around as (

    select
        spine.customer_id,
        spine.as_of,
        sum(case when activity.first_activity_at < spine.cutoff_at then 1 else 0 end) as active_days_before,
        sum(case when activity.first_activity_at >= spine.cutoff_at then 1 else 0 end) as active_days_after
    from spine
    inner join activity
        on activity.customer_id = spine.customer_id
        and activity.first_activity_at >= {{ dbt.dateadd('day', -var('horizon_days'), 'spine.cutoff_at') }}
        and activity.first_activity_at < {{ dbt.dateadd('day', var('horizon_days'), 'spine.cutoff_at') }}
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

    select spine.customer_id, spine.as_of, 1 as lapsed_within
    from spine
    inner join lapses
        on lapses.customer_id = spine.customer_id
        and lapses.lapse_started_at >= spine.cutoff_at
        and lapses.lapse_started_at < {{ dbt.dateadd('day', var('horizon_days'), 'spine.cutoff_at') }}
    group by spine.customer_id, spine.as_of

),

labels as (

    select
        spine.customer_id,
        spine.as_of,
        coalesce(active_around.active_days_before, 0) > 0
            and coalesce(cancelled.cancelled_before, 0) = 0 as is_eligible,
        case
            when not spine.label_observed then null
            when coalesce(cancelled.cancelled_within, 0) = 1 then 1
            when coalesce(active_around.active_days_after, 0) = 0 then 1
            when lapsed.lapsed_within = 1 then 1
            else 0
        end as churned
    from spine
    left join active_around
        on spine.customer_id = active_around.customer_id
        and spine.as_of = active_around.as_of
    left join cancelled
        on spine.customer_id = cancelled.customer_id
        and spine.as_of = cancelled.as_of
    left join lapsed
        on spine.customer_id = lapsed.customer_id
        and spine.as_of = lapsed.as_of

)

select * from labels
