-- Lapses: activity after which the customer stayed silent (no payment, no inbound
-- interaction) for at least horizon_days. The lapse starts at that last activity, which is
-- the last activity of its day (a later one the same day would be closer than horizon_days).
-- A silence still running at the end of the data only counts once it is horizon_days long.
--
-- Only the churn labels read it, and a build of the scoring date alone computes none (a label
-- needs two horizons after its date), so such a build leaves it as the last full build made it
-- (tag training_labels, see features_step).
{{ config(tags=['training_labels']) }}
with

activity as (

    select * from {{ ref('int_customer_activity') }}

),

data_end as (

    select max(last_activity_at) as last_event_at from activity

),

with_next as (

    select
        customer_id,
        last_activity_at,
        lead(first_activity_at) over (partition by customer_id order by activity_date) as next_activity_at
    from activity

),

lapses as (

    select
        with_next.customer_id,
        with_next.last_activity_at as lapse_started_at
    from with_next
    cross join data_end
    where coalesce(with_next.next_activity_at, data_end.last_event_at)
          >= {{ dbt.dateadd('day', var('horizon_days'), 'with_next.last_activity_at') }}

)

select * from lapses
