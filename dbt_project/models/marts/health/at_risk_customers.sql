{{ config(materialized='view') }}
-- The retention queue: customers in the at_risk or critical band, most revenue at risk first.
with

health as (

    select * from {{ ref('customer_health') }}

)

select
    row_number() over (order by revenue_at_risk desc, churn_risk desc, customer_id) as rank,
    customer_id,
    health_band,
    health_score,
    churn_risk,
    revenue_at_risk,
    reasons,
    recommended_action,
    trend,
    score_delta,
    segment,
    account_owner,
    as_of,
    email_hash,
    email
from health
where health_band in ('at_risk', 'critical')
