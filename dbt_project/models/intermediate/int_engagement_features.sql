-- Engagement per customer and as-of date, from the days on which the customer started an
-- interaction up to as_of: how recently and how often they show up, against their own past.
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

windowed as (

    select
        spine.customer_id,
        spine.as_of,
        max(days.last_inbound_at) as last_inbound_at,
        {%- for window in (7, 30, 90) %}
        {{ count_in_window('true', 'days.activity_date', 'spine.as_of', window, inclusive=true) }} as active_days_{{ window }}d,
        {%- endfor %}
        {{ count_in_window('true', 'days.activity_date', 'spine.as_of', 90, offset_days=90, inclusive=true) }} as active_days_prev_90d,
        {{ sum_in_window('days.inbound', 'true', 'days.activity_date', 'spine.as_of', 90, inclusive=true) }} as inbound_90d,
        {%- for name in ('logins', 'feature_uses') %}
        {%- for window in (30, 90, 365) %}
        {{ sum_in_window('days.' ~ name, 'true', 'days.activity_date', 'spine.as_of', window, inclusive=true) }} as {{ name }}_{{ window }}d,
        {%- endfor %}
        {%- endfor %}
        -- each interaction counts 0.5^(age in days / half-life), age 0 on the as-of day
        cast(sum(case when days.activity_date is not null
                      then days.inbound * {{ decay_weight('days.activity_date', 'spine.as_of') }} else 0 end)
             as {{ type_double() }}) as activity_score,
        {{ observed_days('spine.observed_from', 'spine.cutoff_at', 365) }} as observed_days_365d
    from spine
    left join days
        on days.customer_id = spine.customer_id
        and {{ in_window('days.activity_date', 'spine.as_of', 365, inclusive=true) }}
    group by spine.customer_id, spine.as_of, spine.observed_from, spine.cutoff_at

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
