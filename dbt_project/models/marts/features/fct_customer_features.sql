-- The point-in-time feature mart: one row per customer and as-of date, with every feature
-- computed from events before the cutoff, the eligibility flag and the churn label.
--
-- Incremental by as-of date. A full spine (feature_spine() 'full', what training needs) rebuilds
-- the table (meta.full_refresh_with_full_spine, see the macro should_full_refresh). A scoring
-- spine ('scoring', a refresh scored by the live model) replaces only the scoring date's rows and
-- keeps the training rows of the last full build: the previous scoring date's rows go, the new
-- date's rows come in.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of',
        on_schema_change='fail',
        meta={'full_refresh_with_full_spine': true},
        pre_hook="{% if is_incremental() %}delete from {{ this }} where is_scoring_date{% endif %}"
    )
}}
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

customers as (

    select * from {{ ref('int_customers_unified') }}

),

engagement as (

    select * from {{ ref('int_engagement_features') }}

),

support as (

    select * from {{ ref('int_support_features') }}

),

voice as (

    select * from {{ ref('int_voice_features') }}

),

value_features as (

    select * from {{ ref('int_value_features') }}

),

labels as (

    select * from {{ ref('int_churn_labels') }}

),

joined as (

    select
        ---------- keys
        spine.customer_id,
        spine.as_of,
        spine.is_scoring_date,

        ---------- label
        labels.is_eligible,
        labels.churned,

        ---------- attributes
        customers.segment,
        customers.plan,
        customers.region,
        customers.account_owner,
        {{ dbt.datediff('spine.signup_at', 'spine.cutoff_at', 'day') }} as tenure_days,
        case
            when {{ dbt.datediff('spine.signup_at', 'spine.cutoff_at', 'day') }} < 90 then 'new'
            when coalesce(value_features.days_since_last_purchase, 9999) > 30
             and coalesce(engagement.days_since_last_inbound, 9999) > 30 then 'lapsing'
            else 'established'
        end as lifecycle_stage,

        ---------- engagement
        {%- for column in ['days_since_last_inbound', 'active_days_7d', 'active_days_30d', 'active_days_90d',
                           'active_days_prev_90d', 'active_days_change_90d', 'inbound_90d', 'activity_score',
                           'logins_30d', 'logins_90d', 'logins_per_week_365d',
                           'feature_uses_30d', 'feature_uses_90d', 'feature_uses_per_week_365d'] %}
        engagement.{{ column }},
        {%- endfor %}

        ---------- support experience
        {%- for column in ['tickets_opened_90d', 'tickets_per_month_365d', 'tickets_resolved_90d', 'open_tickets',
                           'avg_resolution_hours_90d', 'resolution_vs_peers_90d', 'first_contact_resolution_90d',
                           'contacts_per_ticket_90d', 'repeat_contacts_90d', 'repeat_contacts_365d',
                           'channel_hops_90d', 'channel_hops_365d', 'avg_handle_minutes_90d',
                           'handle_time_vs_peers_90d', 'complaints_90d', 'chat_contacts_90d',
                           'phone_contacts_90d', 'email_contacts_90d', 'social_contacts_90d'] %}
        support.{{ column }},
        {%- endfor %}

        ---------- voice of the customer
        {%- for column in ['last_csat', 'avg_csat_90d', 'csat_change_90d', 'last_nps', 'nps_category',
                           'avg_nps_365d', 'avg_sentiment_30d', 'avg_sentiment_90d', 'avg_sentiment_365d',
                           'sentiment_change_90d', 'negative_feedback_90d', 'negative_feedback_share_90d',
                           'top_complaint_topic_180d'] %}
        voice.{{ column }},
        {%- endfor %}

        ---------- value
        {%- for column in ['days_since_last_purchase', 'purchases_30d', 'purchases_90d', 'purchases_365d',
                           'purchases_per_month_365d', 'recency_score', 'frequency_score', 'monetary_score',
                           'rfm_score', 'subscription_payments_90d', 'spend_30d', 'spend_prev_30d',
                           'spend_change_30d', 'spend_90d', 'spend_prev_90d', 'spend_change_90d', 'spend_180d',
                           'spend_prev_180d', 'spend_change_180d', 'typical_purchase_gap_days',
                           'purchase_overdue_ratio', 'refunds_90d', 'refund_amount_90d', 'refund_share_90d',
                           'cancellations_365d', 'has_cancelled', 'revenue_12m'] %}
        value_features.{{ column }}{{ "," if not loop.last }}
        {%- endfor %}

    from spine
    inner join customers
        on spine.customer_id = customers.customer_id
    inner join labels
        on spine.customer_id = labels.customer_id
        and spine.as_of = labels.as_of
    left join engagement
        on spine.customer_id = engagement.customer_id
        and spine.as_of = engagement.as_of
    left join support
        on spine.customer_id = support.customer_id
        and spine.as_of = support.as_of
    left join voice
        on spine.customer_id = voice.customer_id
        and spine.as_of = voice.as_of
    left join value_features
        on spine.customer_id = value_features.customer_id
        and spine.as_of = value_features.as_of

)

-- the contract (fct_customer_features.yml) names every column and its type
select
    {%- for column in model.columns.values() %}
    cast({{ column.name }} as {{ column.data_type }}) as {{ column.name }}{{ "," if not loop.last }}
    {%- endfor %}
from joined
