-- The point-in-time feature mart: one row per customer and as-of date, with every feature
-- computed from events before the cutoff, the eligibility flag and the churn label.
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

customers as (

    select * from {{ ref('int_customers_unified') }}

),

transaction_features as (

    select * from {{ ref('int_transaction_features') }}

),

interaction_features as (

    select * from {{ ref('int_interaction_features') }}

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

        ---------- value
        transaction_features.days_since_last_purchase,
        transaction_features.purchases_30d,
        transaction_features.purchases_90d,
        transaction_features.subscription_payments_90d,
        transaction_features.spend_30d,
        transaction_features.spend_90d,
        transaction_features.spend_prev_90d,
        transaction_features.spend_change_90d,
        transaction_features.refunds_90d,
        transaction_features.refund_amount_90d,
        transaction_features.revenue_12m,
        transaction_features.has_cancelled,

        ---------- engagement
        interaction_features.logins_30d,
        interaction_features.logins_prev_30d,
        interaction_features.login_change_30d,
        interaction_features.logins_90d,
        interaction_features.logins_180d,
        interaction_features.feature_uses_30d,
        interaction_features.feature_uses_90d,
        interaction_features.active_days_30d,
        interaction_features.inbound_90d,
        interaction_features.days_since_last_inbound,

        ---------- support experience
        interaction_features.tickets_90d,
        interaction_features.contacts_per_ticket_90d,
        interaction_features.repeat_contacts_90d,
        interaction_features.channel_hops_90d,
        interaction_features.avg_handle_minutes_90d,
        interaction_features.open_tickets,
        interaction_features.complaints_90d,
        interaction_features.chat_contacts_90d,
        interaction_features.phone_contacts_90d,
        interaction_features.email_contacts_90d,
        interaction_features.social_contacts_90d,

        ---------- voice of the customer
        interaction_features.avg_csat_90d,
        interaction_features.last_csat,
        interaction_features.last_nps,
        interaction_features.avg_sentiment_90d,
        interaction_features.avg_sentiment_30d,
        interaction_features.negative_feedback_90d

    from spine
    inner join customers
        on spine.customer_id = customers.customer_id
    inner join labels
        on spine.customer_id = labels.customer_id
        and spine.as_of = labels.as_of
    left join transaction_features
        on spine.customer_id = transaction_features.customer_id
        and spine.as_of = transaction_features.as_of
    left join interaction_features
        on spine.customer_id = interaction_features.customer_id
        and spine.as_of = interaction_features.as_of

)

select * from joined
