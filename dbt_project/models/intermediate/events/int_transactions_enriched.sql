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

{#- A table built before staging gained a column (an older warehouse) lacks it: reprocess every
    transaction then, so the merge fills the new column on every row, as a full refresh would. -#}
{%- set reprocess_all = not is_incremental() -%}
{%- if is_incremental() -%}
    {%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- set upstream = adapter.get_columns_in_relation(ref('stg_transactions')) | map(attribute='name') | map('lower') | list -%}
    {%- set reprocess_all = upstream | reject('in', built) | list | length > 0 -%}
{%- endif %}

with

transactions as (

    select * from {{ ref('stg_transactions') }}

),

{% if reprocess_all %}

in_scope as (

    select * from transactions

),

{% else %}

watermark as (

    select
        max(loaded_at) as last_loaded_at,
        max(occurred_at) as last_occurred_at
    from {{ this }}

),

changed as (

    select transactions.*
    from transactions
    cross join watermark
    where watermark.last_loaded_at is null  -- the table is empty
       or transactions.loaded_at > watermark.last_loaded_at
       or transactions.occurred_at >= {{ dbt.dateadd('day', -var('event_lookback_days'), 'watermark.last_occurred_at') }}

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
