-- Interactions with their place in a support case: the contact number on the ticket, whether
-- the contact repeats one within 7 days, and whether the customer had to switch channel.
-- Each flag looks only at earlier contacts, so it is point-in-time safe.
with

interactions as (

    select * from {{ ref('stg_interactions') }}

),

ticket_contacts as (

    select
        interaction_id,
        row_number() over (partition by customer_id, ticket_id order by occurred_at, interaction_id) as contact_number,
        lag(occurred_at) over (partition by customer_id, ticket_id order by occurred_at, interaction_id) as previous_contact_at,
        lag(channel) over (partition by customer_id, ticket_id order by occurred_at, interaction_id) as previous_channel
    from interactions
    where ticket_id is not null
      and is_inbound
      and interaction_type in ('support_ticket', 'complaint')

),

enriched as (

    select
        interactions.*,
        coalesce(ticket_contacts.contact_number, 0) as contact_number,
        case
            when ticket_contacts.previous_contact_at is not null
             and interactions.occurred_at < {{ dbt.dateadd('day', 7, 'ticket_contacts.previous_contact_at') }}
            then 1 else 0
        end as is_repeat_contact,
        case
            when ticket_contacts.previous_channel is not null
             and ticket_contacts.previous_channel <> interactions.channel
            then 1 else 0
        end as is_channel_hop
    from interactions
    left join ticket_contacts
        on interactions.interaction_id = ticket_contacts.interaction_id

)

select * from enriched
