-- Support contacts with their place in the case: the contact number on the ticket, whether the
-- contact repeats one within 7 days, and whether the customer had to switch channel. Contacts
-- are the inbound support_ticket and complaint interactions of a (customer_id, ticket_id); each
-- flag looks only at earlier contacts, so it is point-in-time safe.
--
-- Incremental: a run reprocesses the contacts of the interactions loaded since the last build
-- and of those within event_lookback_days of the newest contact already built. A late contact
-- renumbers the later contacts of its ticket, so every contact of a touched ticket is recomputed
-- and merged.
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='interaction_id',
        on_schema_change='sync_all_columns'
    )
}}

with

contacts as (

    select
        interaction_id,
        customer_id,
        ticket_id,
        channel,
        occurred_at,
        loaded_at
    from {{ ref('stg_interactions') }}
    where ticket_id is not null
      and is_inbound
      and interaction_type in ('support_ticket', 'complaint')

),

{% if not is_incremental() %}

in_scope as (

    select * from contacts

),

{% else %}

changed as (

    {{ changed_events('contacts') }}

),

touched_tickets as (

    select distinct customer_id, ticket_id
    from changed

),

-- every contact of a touched ticket (a ticket's windows need all its contacts)
in_scope as (

    select contacts.*
    from contacts
    inner join touched_tickets
        on touched_tickets.customer_id = contacts.customer_id
        and touched_tickets.ticket_id = contacts.ticket_id

),

{% endif %}

numbered as (

    select
        interaction_id,
        customer_id,
        ticket_id,
        occurred_at,
        loaded_at,
        channel,
        row_number() over (partition by customer_id, ticket_id order by occurred_at, interaction_id) as contact_number,
        lag(occurred_at) over (partition by customer_id, ticket_id order by occurred_at, interaction_id) as previous_contact_at,
        lag(channel) over (partition by customer_id, ticket_id order by occurred_at, interaction_id) as previous_channel
    from in_scope

),

flagged as (

    select
        interaction_id,
        customer_id,
        ticket_id,
        occurred_at,
        loaded_at,
        contact_number,
        case
            when previous_contact_at is not null
             and occurred_at < {{ dbt.dateadd('day', 7, 'previous_contact_at') }}
            then 1 else 0
        end as is_repeat_contact,
        case
            when previous_channel is not null and previous_channel <> channel then 1 else 0
        end as is_channel_hop
    from numbered

)

select * from flagged
