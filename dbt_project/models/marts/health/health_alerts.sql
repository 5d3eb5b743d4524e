{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=false
    )
}}
{%- set rules = var('alerts', {}) or {} -%}
{%- set entered_bands = rules.get('entered_band') or [] -%}
{%- set drop = rules.get('drop') -%}
{%- set critical_runs = rules.get('critical_runs') -%}
-- Append-only: the alerts raised by the run customer_health shows, from the rules in config
-- (alerts). One alert per customer, rule and window; alert_id hashes the three, and an alert_id
-- already here is never written again, so a rerun adds nothing. The windows:
--   entered_<band>  the scoring date on which the band was entered (from a healthier band of the
--                   previous run, or first scored in it); staying in it raises nothing more
--   score_drop      the `days` days up to the scoring date; raised on the first run whose score is
--                   `points` or more below the highest of the runs within the window before it,
--                   not again while that stays true from run to run
--   critical_runs   the streak: from its first critical scoring date to the date the streak
--                   reached `critical_runs` dates; the streak goes on under the same alert
-- The first run of a dataset is the baseline and raises nothing. A backfill (an earlier as-of
-- date) is never current, so it raises nothing either; it counts as history for the rules.
with

health as (

    select * from {{ ref('customer_health') }}

),

history as (

    select * from {{ ref('customer_health_history') }}

),

current_run as (

    select distinct run_id, as_of, scored_at from health

),

earlier as (

    -- every run before the current one, in the order customer_health uses for previous_score
    select
        history.customer_id,
        history.run_id,
        history.as_of,
        history.health_score,
        history.health_band,
        row_number() over (
            partition by history.customer_id
            order by history.as_of desc, history.scored_at desc, history.run_id desc
        ) as recency_rank,
        row_number() over (
            partition by history.customer_id, history.as_of
            order by history.scored_at desc, history.run_id desc
        ) as date_rank
    from history
    cross join current_run
    where history.run_id <> current_run.run_id
      and (history.as_of < current_run.as_of
           or (history.as_of = current_run.as_of and history.scored_at < current_run.scored_at))

),

previous as (

    select * from earlier where recency_rank = 1

),

current_scores as (

    -- nothing is raised on the first run of a dataset (the baseline)
    select
        health.*,
        previous.health_band as previous_band,
        previous.as_of as previous_as_of
    from health
    left join previous
        on health.customer_id = previous.customer_id
    where exists (select 1 from earlier)

),

candidates as (

    {%- set parts = [] %}

    {%- if entered_bands %}
    {%- do parts.append('entered') %}
    -- entered_<band>: the band of the current run is listed and worse than the previous run's
    select
        customer_id,
        {{ dbt.concat(["'entered_'", 'health_band']) }} as rule,
        as_of as window_start,
        as_of as window_end,
        case
            when previous_band is null then {{ dbt.concat([
                "'First scored in the '", "replace(health_band, '_', '-')",
                "' band with a health score of '", as_text('health_score'), "'.'"]) }}
            else {{ dbt.concat([
                "'Entered the '", "replace(health_band, '_', '-')", "' band: health score '",
                as_text('health_score'), "', was '", as_text('previous_score'), "' ('",
                "replace(previous_band, '_', '-')", "') on '", as_text('previous_as_of'), "'.'"]) }}
        end as message
    from current_scores
    where health_band in ({% for band in entered_bands %}'{{ band }}'{{ ", " if not loop.last }}{% endfor %})
      and (previous_band is null or {{ band_severity('previous_band') }} < {{ band_severity('health_band') }})
    {%- endif %}

    {%- if drop %}
    {%- if parts %}
    union all
    {%- endif %}
    {%- do parts.append('drop') %}
    -- score_drop: at least `points` below the highest score of the runs within `days` before this
    -- run, and the previous run was not already that far below the highest within its own window
    select
        current_scores.customer_id,
        'score_drop' as rule,
        cast({{ dbt.dateadd('day', -drop['days'], 'current_scores.as_of') }} as date) as window_start,
        current_scores.as_of as window_end,
        {{ dbt.concat([
            "'Health score dropped '", as_text('windows.highest_score - current_scores.health_score'),
            "' points within " ~ drop['days'] ~ " days: from '", as_text('windows.highest_score'),
            "' to '", as_text('current_scores.health_score'), "'.'"]) }} as message
    from current_scores
    inner join (
        select
            earlier.customer_id,
            max(case when earlier.as_of >= {{ dbt.dateadd('day', -drop['days'], 'current_run.as_of') }}
                     then earlier.health_score end) as highest_score,
            max(case when earlier.recency_rank > 1
                      and earlier.as_of >= {{ dbt.dateadd('day', -drop['days'], 'previous.as_of') }}
                     then earlier.health_score end) as highest_before_previous,
            max(previous.health_score) as previous_score
        from earlier
        cross join current_run
        inner join previous
            on earlier.customer_id = previous.customer_id
        group by earlier.customer_id
    ) as windows
        on current_scores.customer_id = windows.customer_id
    where windows.highest_score - current_scores.health_score >= {{ drop['points'] }}
      and not coalesce(windows.highest_before_previous - windows.previous_score >= {{ drop['points'] }}, false)
    {%- endif %}

    {%- if critical_runs %}
    {%- if parts %}
    union all
    {%- endif %}
    {%- do parts.append('critical') %}
    -- critical_runs: critical on the last `critical_runs` scoring dates (a date counts once: its
    -- latest run); the window starts on the first critical date of the streak
    select
        current_scores.customer_id,
        'critical_runs' as rule,
        streaks.streak_start as window_start,
        current_scores.as_of as window_end,
        {{ dbt.concat([
            "'Critical on '", as_text('streaks.critical_dates'),
            "' scoring dates in a row since '", as_text('streaks.streak_start'),
            "' (health score '", as_text('current_scores.health_score'), "').'"]) }} as message
    from current_scores
    inner join (
        select
            dated.customer_id,
            count(*) as critical_dates,
            min(dated.as_of) as streak_start
        from (
            select customer_id, as_of, health_band from health
            union all
            select earlier.customer_id, earlier.as_of, earlier.health_band
            from earlier
            cross join current_run
            where earlier.date_rank = 1 and earlier.as_of < current_run.as_of
        ) as dated
        left join (
            select customer_id, max(as_of) as last_not_critical
            from earlier
            where date_rank = 1 and health_band <> 'critical'
            group by customer_id
        ) as breaks
            on dated.customer_id = breaks.customer_id
        where dated.health_band = 'critical'
          and (breaks.last_not_critical is null or dated.as_of > breaks.last_not_critical)
        group by dated.customer_id
    ) as streaks
        on current_scores.customer_id = streaks.customer_id
    where current_scores.health_band = 'critical'
      and streaks.critical_dates >= {{ critical_runs }}
    {%- endif %}

    {%- if not parts %}
    -- every rule is switched off
    select
        customer_id,
        'none' as rule,
        as_of as window_start,
        as_of as window_end,
        'none' as message
    from current_scores
    where 1 = 0
    {%- endif %}

),

final as (

    select
        {{ dbt.hash(dbt.concat(['candidates.customer_id', "'|'", 'candidates.rule', "'|'", as_text('candidates.window_start')])) }} as alert_id,
        candidates.customer_id,
        candidates.rule,
        current_scores.run_id as detected_in_run_id,
        current_scores.as_of,
        candidates.window_start,
        candidates.window_end,
        current_scores.health_score,
        current_scores.previous_score,
        current_scores.health_band,
        candidates.message,
        current_scores.segment,
        current_scores.account_owner,
        cast({{ dbt.current_timestamp() }} at time zone 'UTC' as {{ dbt.type_timestamp() }}) as created_at
    from candidates
    inner join current_scores
        on candidates.customer_id = current_scores.customer_id

)

select
    cast(alert_id as {{ dbt.type_string() }}) as alert_id,
    customer_id,
    rule,
    detected_in_run_id,
    as_of,
    window_start,
    window_end,
    health_score,
    previous_score,
    health_band,
    message,
    segment,
    account_owner,
    created_at
from final
{% if is_incremental() %}
where alert_id not in (select alert_id from {{ this }})
{% endif %}
