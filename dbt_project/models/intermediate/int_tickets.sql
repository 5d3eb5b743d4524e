-- One row per support case: when it was opened and first resolved, how many inbound contacts
-- it took up to the resolution, and what it was about. Everything a point-in-time feature
-- reads from here is known by resolved_at (or opened_at), so windows on those stay safe.
with

contacts as (

    select * from {{ ref('int_interactions_enriched') }}
    where contact_number > 0

),

resolutions as (

    select customer_id, ticket_id, min(occurred_at) as resolved_at
    from {{ ref('stg_interactions') }}
    where ticket_id is not null
      and interaction_type = 'ticket_resolved'
    group by customer_id, ticket_id

),

opened as (

    select
        customer_id,
        ticket_id,
        min(occurred_at) as opened_at,
        max(case when contact_number = 1 then channel end) as first_channel,
        max(case when contact_number = 1 then topic end) as topic,
        max(case when interaction_type = 'complaint' then 1 else 0 end) as is_complaint
    from contacts
    group by customer_id, ticket_id

),

cases as (

    select
        opened.*,
        resolutions.resolved_at
    from opened
    left join resolutions
        on opened.customer_id = resolutions.customer_id
        and opened.ticket_id = resolutions.ticket_id

),

tickets as (

    select
        cases.customer_id,
        cases.ticket_id,
        cases.opened_at,
        cases.resolved_at,
        cases.first_channel,
        cases.topic,
        cases.is_complaint,
        -- contacts the customer needed until the case was resolved (null while open)
        case when cases.resolved_at is not null then count(contacts.interaction_id) end as contacts_to_resolve
    from cases
    left join contacts
        on contacts.customer_id = cases.customer_id
        and contacts.ticket_id = cases.ticket_id
        and contacts.occurred_at <= cases.resolved_at
    group by
        cases.customer_id, cases.ticket_id, cases.opened_at, cases.resolved_at,
        cases.first_channel, cases.topic, cases.is_complaint

)

select * from tickets
