-- Value per customer and as-of date, from transactions before the cutoff: recency, frequency
-- and monetary value with their quintile scores among the customers who paid within the
-- year, spend and its trend, the purchase rhythm and how overdue the next purchase is,
-- refunds and cancellations, and the trailing 12-month revenue behind revenue at risk.
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

transactions as (

    select * from {{ ref('int_transactions_enriched') }}

),

coverage as (

    select * from {{ ref('int_source_coverage') }}

),

windowed as (

    select
        spine.customer_id,
        spine.as_of,
        max(case when transactions.is_payment then transactions.occurred_at end) as last_payment_at,
        max(case when transactions.transaction_type = 'purchase' then transactions.occurred_at end) as last_purchase_at,
        {%- for days in (30, 90, 365) %}
        {{ count_in_window("transactions.transaction_type = 'purchase'", 'transactions.occurred_at', 'spine.cutoff_at', days) }} as purchases_{{ days }}d,
        {%- endfor %}
        {{ count_in_window("transactions.transaction_type = 'subscription_payment'", 'transactions.occurred_at', 'spine.cutoff_at', 90) }} as subscription_payments_90d,
        {%- for days in (30, 90, 180) %}
        {{ sum_in_window('transactions.net_amount', 'true', 'transactions.occurred_at', 'spine.cutoff_at', days) }} as spend_{{ days }}d,
        {{ sum_in_window('transactions.net_amount', 'true', 'transactions.occurred_at', 'spine.cutoff_at', days, offset_days=days) }} as spend_prev_{{ days }}d,
        {%- endfor %}
        {{ count_in_window("transactions.transaction_type = 'refund'", 'transactions.occurred_at', 'spine.cutoff_at', 90) }} as refunds_90d,
        {{ sum_in_window('-transactions.net_amount', "transactions.transaction_type = 'refund'", 'transactions.occurred_at', 'spine.cutoff_at', 90) }} as refund_amount_90d,
        {{ sum_in_window('transactions.net_amount', 'transactions.is_payment', 'transactions.occurred_at', 'spine.cutoff_at', 90) }} as payments_90d,
        {{ count_in_window("transactions.transaction_type = 'cancellation'", 'transactions.occurred_at', 'spine.cutoff_at', 365) }} as cancellations_365d,
        {{ sum_in_window('transactions.net_amount', 'true', 'transactions.occurred_at', 'spine.cutoff_at', 365) }} as revenue_12m,
        {{ avg_in_window('transactions.purchase_gap_days', 'transactions.purchase_gap_days is not null', 'transactions.occurred_at', 'spine.cutoff_at', 365) }} as typical_purchase_gap_days,
        {{ observed_days('spine.observed_from', 'spine.cutoff_at', 365) }} as observed_days_365d
    from spine
    left join transactions
        on transactions.customer_id = spine.customer_id
        and {{ in_window('transactions.occurred_at', 'spine.cutoff_at', 365) }}
    group by spine.customer_id, spine.as_of, spine.observed_from, spine.cutoff_at

),

cancellations as (

    select customer_id, min(occurred_at) as first_cancelled_at
    from transactions
    where transaction_type = 'cancellation'
    group by customer_id

),

measured as (

    select
        windowed.*,
        {{ dbt.datediff('windowed.last_payment_at', 'spine.cutoff_at', 'day') }} as days_since_last_purchase,
        {{ dbt.datediff('windowed.last_purchase_at', 'spine.cutoff_at', 'day') }} as days_since_last_one_off,
        case when cancellations.first_cancelled_at < spine.cutoff_at then 1 else 0 end as has_cancelled
    from windowed
    inner join spine
        on windowed.customer_id = spine.customer_id
        and windowed.as_of = spine.as_of
    left join cancellations
        on windowed.customer_id = cancellations.customer_id

),

-- quintile scores (5 = best) among the customers who paid within the year on the same date
rfm as (

    select
        customer_id,
        as_of,
        ntile(5) over (partition by as_of order by days_since_last_purchase desc, customer_id) as recency_score,
        ntile(5) over (partition by as_of order by purchases_365d, customer_id) as frequency_score,
        ntile(5) over (partition by as_of order by revenue_12m, customer_id) as monetary_score
    from measured
    where last_payment_at is not null

),

features as (

    select
        measured.customer_id,
        measured.as_of,
        {{ observed('measured.days_since_last_purchase', 'coverage.has_transactions') }} as days_since_last_purchase,
        {{ observed('measured.purchases_30d', 'coverage.has_transactions') }} as purchases_30d,
        {{ observed('measured.purchases_90d', 'coverage.has_transactions') }} as purchases_90d,
        {{ observed('measured.purchases_365d', 'coverage.has_transactions') }} as purchases_365d,
        {{ observed('30.0 * measured.purchases_365d / measured.observed_days_365d', 'coverage.has_purchases') }} as purchases_per_month_365d,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        rfm.recency_score + rfm.frequency_score + rfm.monetary_score as rfm_score,
        {{ observed('measured.subscription_payments_90d', 'coverage.has_transactions') }} as subscription_payments_90d,
        {%- for days in (30, 90, 180) %}
        {{ observed('measured.spend_' ~ days ~ 'd', 'coverage.has_transactions') }} as spend_{{ days }}d,
        {{ observed('measured.spend_prev_' ~ days ~ 'd', 'coverage.has_transactions') }} as spend_prev_{{ days }}d,
        measured.spend_{{ days }}d / nullif(measured.spend_prev_{{ days }}d, 0) as spend_change_{{ days }}d,
        {%- endfor %}
        measured.typical_purchase_gap_days,
        measured.days_since_last_one_off / nullif(measured.typical_purchase_gap_days, 0) as purchase_overdue_ratio,
        {{ observed('measured.refunds_90d', 'coverage.has_transactions') }} as refunds_90d,
        {{ observed('measured.refund_amount_90d', 'coverage.has_transactions') }} as refund_amount_90d,
        measured.refund_amount_90d / nullif(measured.payments_90d, 0) as refund_share_90d,
        {{ observed('measured.cancellations_365d', 'coverage.has_transactions') }} as cancellations_365d,
        {{ observed('measured.has_cancelled', 'coverage.has_transactions') }} as has_cancelled,
        {{ observed('measured.revenue_12m', 'coverage.has_transactions') }} as revenue_12m
    from measured
    cross join coverage
    left join rfm
        on measured.customer_id = rfm.customer_id
        and measured.as_of = rfm.as_of

)

select * from features
