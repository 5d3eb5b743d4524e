-- Engagement per customer and as-of date, from the days on which the customer started an
-- interaction up to as_of: how recently and how often they show up, against their own past.
--
-- Built after int_activity_lapses, which it does not read: DuckDB's hash aggregate below, run
-- beside the window function of the lapses, held 3 GiB instead of 0.4 GiB at W10 (100,000
-- customers), enough to set the peak memory of one full run in three or four.
-- depends_on: {{ ref('int_activity_lapses') }}
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

days as (

    select * from {{ ref('int_customer_days') }}

),

coverage as (

    select * from {{ ref('int_source_coverage') }}

),

-- each customer-day inside the 365-day window of an as-of date, with its age in days (0 on the
-- as-of day): the windows below compare one integer instead of computing their bounds per row
aged as (

    select
        spine.customer_id,
        spine.as_of,
        days.last_inbound_at,
        days.inbound,
        days.logins,
        days.feature_uses,
        {{ dbt.datediff('days.activity_date', 'spine.as_of', 'day') }} as age_days
    from spine
    inner join days
        on days.customer_id = spine.customer_id
        and {{ in_window('days.activity_date', 'spine.as_of', 365, inclusive=true) }}

),

-- counts are integers, so their sums are exact without the numeric cast of sum_in_window
windowed_days as (

    select
        customer_id,
        as_of,
        max(last_inbound_at) as last_inbound_at,
        {%- for window in (7, 30, 90) %}
        sum(case when age_days < {{ window }} then 1 else 0 end) as active_days_{{ window }}d,
        {%- endfor %}
        sum(case when age_days >= 90 and age_days < 180 then 1 else 0 end) as active_days_prev_90d,
        sum(case when age_days < 90 then inbound else 0 end) as inbound_90d,
        {%- for name in ('logins', 'feature_uses') %}
        sum(case when age_days < 30 then {{ name }} else 0 end) as {{ name }}_30d,
        sum(case when age_days < 90 then {{ name }} else 0 end) as {{ name }}_90d,
        sum({{ name }}) as {{ name }}_365d,
        {%- endfor %}
        -- each interaction counts 0.5^(age in days / half-life), age 0 on the as-of day
        cast(sum(inbound * {{ decay_weight('age_days') }}) as {{ type_double() }}) as activity_score
    from aged
    group by customer_id, as_of

),

-- every spine row, with zeros where the customer started no interaction in the window
windowed as (

    select
        spine.customer_id,
        spine.as_of,
        windowed_days.last_inbound_at,
        {%- for column in ('active_days_7d', 'active_days_30d', 'active_days_90d', 'active_days_prev_90d') %}
        coalesce(windowed_days.{{ column }}, 0) as {{ column }},
        {%- endfor %}
        {%- for column in ('inbound_90d', 'logins_30d', 'logins_90d', 'logins_365d',
                           'feature_uses_30d', 'feature_uses_90d', 'feature_uses_365d', 'activity_score') %}
        cast(coalesce(windowed_days.{{ column }}, 0) as {{ type_double() }}) as {{ column }},
        {%- endfor %}
        {{ observed_days('spine.observed_from', 'spine.cutoff_at', 365) }} as observed_days_365d
    from spine
    left join windowed_days
        on windowed_days.customer_id = spine.customer_id
        and windowed_days.as_of = spine.as_of

),

features as (

    select
        windowed.customer_id,
        windowed.as_of,
        {{ dbt.datediff('windowed.last_inbound_at', 'spine.cutoff_at', 'day') }} as days_since_last_inbound,
        {{ observed('windowed.active_days_7d', 'coverage.has_interactions') }} as active_days_7d,
        {{ observed('windowed.active_days_30d', 'coverage.has_interactions') }} as active_days_30d,
        {{ observed('windowed.active_days_90d', 'coverage.has_interactions') }} as active_days_90d,
        {{ observed('windowed.active_days_prev_90d', 'coverage.has_interactions') }} as active_days_prev_90d,
        -- only once the customer has a full previous 90 days to compare with
        case when windowed.observed_days_365d >= 180
             then {{ observed('windowed.active_days_90d - windowed.active_days_prev_90d', 'coverage.has_interactions') }}
        end as active_days_change_90d,
        {{ observed('windowed.inbound_90d', 'coverage.has_interactions') }} as inbound_90d,
        {{ observed('windowed.activity_score', 'coverage.has_interactions') }} as activity_score,
        {%- for name in ('logins', 'feature_uses') %}
        {{ observed('windowed.' ~ name ~ '_30d', 'coverage.has_product_usage') }} as {{ name }}_30d,
        {{ observed('windowed.' ~ name ~ '_90d', 'coverage.has_product_usage') }} as {{ name }}_90d,
        {{ observed('7.0 * windowed.' ~ name ~ '_365d / windowed.observed_days_365d', 'coverage.has_product_usage') }} as {{ name }}_per_week_365d{{ "," if not loop.last }}
        {%- endfor %}
    from windowed
    inner join spine
        on windowed.customer_id = spine.customer_id
        and windowed.as_of = spine.as_of
    cross join coverage

)

select * from features
