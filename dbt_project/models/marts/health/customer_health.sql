-- One row per active customer: the current churn risk, health score and band, why, and what to do.
with

scores as (

    select * from {{ ref('int_scores_banded') }}

),

history as (

    select * from {{ ref('customer_health_history') }}

),

previous_runs as (

    select
        history.customer_id,
        history.health_score,
        row_number() over (partition by history.customer_id order by history.scored_at desc, history.run_id desc) as recency_rank
    from history
    inner join scores
        on history.customer_id = scores.customer_id
        and history.run_id <> scores.run_id
        and history.scored_at <= scores.scored_at

),

with_previous as (

    select
        scores.*,
        previous_runs.health_score as previous_score,
        scores.health_score - previous_runs.health_score as score_delta
    from scores
    left join previous_runs
        on scores.customer_id = previous_runs.customer_id
        and previous_runs.recency_rank = 1

),

final as (

    select
        customer_id,
        as_of,
        churn_risk,
        health_score,
        health_band,
        engagement_score,
        experience_score,
        voice_score,
        value_score,
        top_drivers,
        reasons,
        recommended_action,
        revenue_12m,
        revenue_at_risk,
        previous_score,
        score_delta,
        case
            when score_delta is null then 'new'
            when score_delta >= {{ var('trend_stable_points') }} then 'improving'
            when score_delta <= -{{ var('trend_stable_points') }} then 'declining'
            else 'stable'
        end as trend,
        segment,
        plan,
        region,
        account_owner,
        score_source,
        model_version,
        run_id,
        scored_at
    from with_previous

)

select * from final
