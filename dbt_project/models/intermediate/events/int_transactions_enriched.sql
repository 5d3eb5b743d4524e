-- Transactions with the days since the customer's previous purchase (purchases only).
-- Ties on occurred_at are broken by transaction_id, so the gaps are deterministic.
--
-- Incremental: a run reprocesses the transactions loaded since the last build and those within
-- event_lookback_days of the newest transaction already built. A late purchase changes the gap
-- of the customer's next purchase, so every transaction of a customer with a changed purchase
-- is recomputed and merged.
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='transaction_id',
        on_schema_change='sync_all_columns'
    )
}}

{%- set reprocess_all = events_reprocess_all(ref('stg_transactions')) %}

with

transactions as (

    select * from {{ ref('stg_transactions') }}

),

{% if reprocess_all %}

in_scope as (

    select * from transactions

),

{% else %}

changed as (

    {{ changed_events('transactions') }}

),

touched_customers as (

    select distinct customer_id
    from changed
    where transaction_type = 'purchase'

),

-- the changed transactions plus every transaction of customers with a changed purchase
in_scope as (

    select transactions.*
    from transactions
    where transactions.transaction_id in (select transaction_id from changed)
       or transactions.customer_id in (select customer_id from touched_customers)

),

{% endif %}

purchases as (

    select
        transaction_id,
        occurred_at,
        lag(occurred_at) over (partition by customer_id order by occurred_at, transaction_id) as previous_purchase_at
    from in_scope
    where transaction_type = 'purchase'

),

enriched as (

    select
        in_scope.*,
        {{ dbt.datediff('purchases.previous_purchase_at', 'purchases.occurred_at', 'day') }} as purchase_gap_days
    from in_scope
    left join purchases
        on in_scope.transaction_id = purchases.transaction_id

)

select * from enriched
