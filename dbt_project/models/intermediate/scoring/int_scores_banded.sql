{{ config(materialized='view') }}
-- Every scoring run, turned into health scores, bands, revenue at risk and actions.
-- A view: the marts below take only the rows they need (new runs, the current run).
with

scores as (

    select * from {{ source('scoring', 'churn_scores') }}

),

customers as (

    select * from {{ ref('int_customers_unified') }}

),

scored as (

    select
        scores.run_id,
        scores.scored_at,
        scores.as_of,
        scores.customer_id,
        scores.churn_risk,
        cast(round(100 * (1 - scores.churn_risk)) as integer) as health_score,
        scores.engagement_score,
        scores.experience_score,
        scores.voice_score,
        scores.value_score,
        scores.top_drivers,
        scores.reasons,
        scores.primary_dimension,
        scores.primary_feature,
        coalesce(scores.revenue_12m, 0) as revenue_12m,
        scores.score_source,
        scores.model_version,
        customers.segment,
        customers.plan,
        customers.region,
        customers.account_owner
    from scores
    left join customers
        on scores.customer_id = customers.customer_id

),

final as (

    select
        scored.*,
        {{ health_band('health_score', 'segment') }} as health_band,
        {{ playbook_action('primary_dimension', 'primary_feature') }} as recommended_action,
        -- numeric: Postgres rounds numerics, not doubles, to a number of places
        cast(round(cast(churn_risk * greatest(revenue_12m, 0) as {{ dbt.type_numeric() }}), 2) as {{ type_double() }}) as revenue_at_risk
    from scored

)

select * from final
