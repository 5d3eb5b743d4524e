-- Value features per customer and as-of date, from transactions before the cutoff only.
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

source_has_rows as (

    select count(*) > 0 as has_rows from transactions

),

cancellations as (

    select customer_id, min(occurred_at) as first_cancelled_at
    from transactions
    where transaction_type = 'cancellation'
    group by customer_id

),

windowed as (

    select
        spine.customer_id,
        spine.as_of,
        max(case when transactions.is_payment then transactions.occurred_at end) as last_payment_at,
        {{ count_in_window("transactions.transaction_type = 'purchase'", 'transactions.occurred_at', 'spine.cutoff_at', 30) }} as purchases_30d,
        {{ count_in_window("transactions.transaction_type = 'purchase'", 'transactions.occurred_at', 'spine.cutoff_at', 90) }} as purchases_90d,
        {{ count_in_window("transactions.transaction_type = 'subscription_payment'", 'transactions.occurred_at', 'spine.cutoff_at', 90) }} as subscription_payments_90d,
        {{ sum_in_window('transactions.net_amount', 'true', 'transactions.occurred_at', 'spine.cutoff_at', 30) }} as spend_30d,
        {{ sum_in_window('transactions.net_amount', 'true', 'transactions.occurred_at', 'spine.cutoff_at', 90) }} as spend_90d,
        {{ sum_in_window('transactions.net_amount', 'true', 'transactions.occurred_at', 'spine.cutoff_at', 90, offset_days=90) }} as spend_prev_90d,
        {{ count_in_window("transactions.transaction_type = 'refund'", 'transactions.occurred_at', 'spine.cutoff_at', 90) }} as refunds_90d,
        {{ sum_in_window('-transactions.net_amount', "transactions.transaction_type = 'refund'", 'transactions.occurred_at', 'spine.cutoff_at', 90) }} as refund_amount_90d,
        {{ sum_in_window('transactions.net_amount', 'true', 'transactions.occurred_at', 'spine.cutoff_at', 365) }} as revenue_12m
    from spine
    left join transactions
        on transactions.customer_id = spine.customer_id
        and {{ in_window('transactions.occurred_at', 'spine.cutoff_at', 365) }}
    group by spine.customer_id, spine.as_of

),

features as (

    select
        windowed.customer_id,
        windowed.as_of,
        {{ observed(dbt.datediff('windowed.last_payment_at', 'spine.cutoff_at', 'day'), 'source_has_rows.has_rows') }} as days_since_last_purchase,
        {{ observed('windowed.purchases_30d', 'source_has_rows.has_rows') }} as purchases_30d,
        {{ observed('windowed.purchases_90d', 'source_has_rows.has_rows') }} as purchases_90d,
        {{ observed('windowed.subscription_payments_90d', 'source_has_rows.has_rows') }} as subscription_payments_90d,
        {{ observed('windowed.spend_30d', 'source_has_rows.has_rows') }} as spend_30d,
        {{ observed('windowed.spend_90d', 'source_has_rows.has_rows') }} as spend_90d,
        {{ observed('windowed.spend_prev_90d', 'source_has_rows.has_rows') }} as spend_prev_90d,
        windowed.spend_90d / nullif(windowed.spend_prev_90d, 0) as spend_change_90d,
        {{ observed('windowed.refunds_90d', 'source_has_rows.has_rows') }} as refunds_90d,
        {{ observed('windowed.refund_amount_90d', 'source_has_rows.has_rows') }} as refund_amount_90d,
        {{ observed('windowed.revenue_12m', 'source_has_rows.has_rows') }} as revenue_12m,
        {{ observed('case when cancellations.first_cancelled_at < spine.cutoff_at then 1 else 0 end', 'source_has_rows.has_rows') }} as has_cancelled
    from windowed
    inner join spine
        on windowed.customer_id = spine.customer_id
        and windowed.as_of = spine.as_of
    cross join source_has_rows
    left join cancellations
        on windowed.customer_id = cancellations.customer_id

)

select * from features
