{{
    config(
        materialized='incremental',
        unique_key=['run_id', 'customer_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=false
    )
}}
-- Append-only: one row per customer per scoring run, as it was scored. A run already in the
-- history is not written again, so reruns leave the history as one run would.
with

scores as (

    select * from {{ ref('int_scores_banded') }}

)

select
    run_id,
    scored_at,
    as_of,
    customer_id,
    churn_risk,
    health_score,
    health_band,
    engagement_score,
    experience_score,
    voice_score,
    value_score,
    revenue_at_risk,
    score_source,
    model_version
from scores
{% if is_incremental() %}
where run_id not in (select distinct run_id from {{ this }})
{% endif %}
