-- Engagement per customer and as-of date, from the interactions the customer started before
-- the cutoff: how recently and how often they show up, against their own recent past.
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

interactions as (

    select * from {{ ref('int_interactions_enriched') }}
    where is_inbound

),

coverage as (

    select * from {{ ref('int_source_coverage') }}

),

windowed as (

    select
        spine.customer_id,
        spine.as_of,
        max(interactions.occurred_at) as last_inbound_at,
        {%- for days in (7, 30, 90) %}
        count(distinct case when {{ in_window('interactions.occurred_at', 'spine.cutoff_at', days) }}
                            then cast(interactions.occurred_at as date) end) as active_days_{{ days }}d,
        {%- endfor %}
        count(distinct case when {{ in_window('interactions.occurred_at', 'spine.cutoff_at', 90, offset_days=90) }}
                            then cast(interactions.occurred_at as date) end) as active_days_prev_90d,
        {{ count_in_window('true', 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as inbound_90d,
        {%- for kind, name in (('login', 'logins'), ('feature_use', 'feature_uses')) %}
        {{ count_in_window("interactions.interaction_type = '" ~ kind ~ "'", 'interactions.occurred_at', 'spine.cutoff_at', 30) }} as {{ name }}_30d,
        {{ count_in_window("interactions.interaction_type = '" ~ kind ~ "'", 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as {{ name }}_90d,
        {{ count_in_window("interactions.interaction_type = '" ~ kind ~ "'", 'interactions.occurred_at', 'spine.cutoff_at', 365) }} as {{ name }}_365d,
        {%- endfor %}
        cast(sum(case when interactions.occurred_at is not null
                      then {{ decay_weight('interactions.occurred_at', 'spine.cutoff_at') }} else 0 end)
             as {{ type_double() }}) as activity_score,
        {{ observed_days('spine.signup_at', 'spine.cutoff_at', 365) }} as observed_days_365d
    from spine
    left join interactions
        on interactions.customer_id = spine.customer_id
        and {{ in_window('interactions.occurred_at', 'spine.cutoff_at', 365) }}
    group by spine.customer_id, spine.as_of, spine.signup_at, spine.cutoff_at

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
