-- One row per support case: when it was opened and when (if ever) it was resolved.
with

interactions as (

    select * from {{ ref('stg_interactions') }}

),

tickets as (

    select
        customer_id,
        ticket_id,
        min(case when interaction_type in ('support_ticket', 'complaint') then occurred_at end) as opened_at,
        min(case when interaction_type = 'ticket_resolved' then occurred_at end) as resolved_at
    from interactions
    where ticket_id is not null
    group by customer_id, ticket_id

)

select * from tickets
where opened_at is not null
