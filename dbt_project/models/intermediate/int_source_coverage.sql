-- One row: which kinds of evidence the business sends at all. A feature built on a kind of
-- evidence that never arrives is null (not observed), not zero: a business without surveys
-- has no CSAT, not a CSAT of zero, and the model treats the two differently.
with

transactions as (

    select * from {{ ref('int_transactions_enriched') }}

),

interactions as (

    select * from {{ ref('stg_interactions') }}

),

transaction_kinds as (

    select
        count(*) > 0 as has_transactions,
        coalesce(sum(case when transaction_type = 'purchase' then 1 else 0 end), 0) > 0 as has_purchases
    from transactions

),

interaction_kinds as (

    select
        count(*) > 0 as has_interactions,
        coalesce(sum(case when interaction_type in ('login', 'feature_use') then 1 else 0 end), 0) > 0 as has_product_usage,
        coalesce(sum(case when ticket_id is not null and interaction_type in ('support_ticket', 'complaint') then 1 else 0 end), 0) > 0 as has_tickets,
        coalesce(sum(case when interaction_type = 'ticket_resolved' then 1 else 0 end), 0) > 0 as has_resolutions,
        coalesce(sum(case when csat is not null or nps is not null or sentiment is not null then 1 else 0 end), 0) > 0 as has_feedback
    from interactions

)

select
    transaction_kinds.has_transactions,
    transaction_kinds.has_purchases,
    interaction_kinds.has_interactions,
    interaction_kinds.has_product_usage,
    interaction_kinds.has_tickets,
    interaction_kinds.has_resolutions,
    interaction_kinds.has_feedback
from transaction_kinds
cross join interaction_kinds
