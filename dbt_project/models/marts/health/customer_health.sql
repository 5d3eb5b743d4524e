-- One row per active customer: the current churn risk, health score and band, why, and what to do.
-- Current means the run with the latest as-of date (the latest run among those); a backfill of
-- an earlier date goes to the history only.
with

scores as (

    select * from {{ ref('int_scores_banded') }}

),

history as (

    select * from {{ ref('customer_health_history') }}

),

contacts as (

    -- empty unless privacy.export_personal_data allows a hash or the email
    select * from {{ ref('customer_contacts') }}

),

current_run as (

    select run_id, as_of, scored_at
    from (
        select distinct run_id, as_of, scored_at from scores
    ) as runs
    order by as_of desc, scored_at desc, run_id desc
    limit 1

),

current_scores as (

    select scores.*
    from scores
    inner join current_run
        on scores.run_id = current_run.run_id

),

previous_runs as (

    -- the customer's score in the run just before the current one, by as-of date then run time
    select
        history.customer_id,
        history.health_score,
        row_number() over (
            partition by history.customer_id
            order by history.as_of desc, history.scored_at desc, history.run_id desc
        ) as recency_rank
    from history
    cross join current_run
    where history.run_id <> current_run.run_id
      and (history.as_of < current_run.as_of
           or (history.as_of = current_run.as_of and history.scored_at < current_run.scored_at))

),

with_previous as (

    select
        current_scores.*,
        previous_runs.health_score as previous_score,
        current_scores.health_score - previous_runs.health_score as score_delta,
        contacts.email_hash,
        contacts.email
    from current_scores
    left join previous_runs
        on current_scores.customer_id = previous_runs.customer_id
        and previous_runs.recency_rank = 1
    left join contacts
        on current_scores.customer_id = contacts.customer_id

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
        scored_at,
        cast(email_hash as {{ dbt.type_string() }}) as email_hash,
        cast(email as {{ dbt.type_string() }}) as email
    from with_previous

)

select * from final
