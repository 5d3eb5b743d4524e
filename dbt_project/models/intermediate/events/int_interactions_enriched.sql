-- Interactions with their place in a support case: the contact number on the ticket, whether
-- the contact repeats one within 7 days, and whether the customer had to switch channel.
-- Each flag looks only at earlier contacts, so it is point-in-time safe.
--
-- Incremental: a run reprocesses the events loaded since the last build and those within
-- event_lookback_days of the newest event already built. A late contact renumbers the later
-- contacts of its ticket, so every contact of a touched ticket is recomputed and merged.
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='interaction_id',
        on_schema_change='sync_all_columns'
    )
}}

{%- set reprocess_all = events_reprocess_all(ref('stg_interactions')) %}

with

interactions as (

    select * from {{ ref('stg_interactions') }}

),

{% if reprocess_all %}

in_scope as (

    select * from interactions

),

{% else %}

changed as (

    {{ changed_events('interactions') }}

),

touched_tickets as (

    select distinct customer_id, ticket_id
    from changed
    where ticket_id is not null

),

-- the changed events plus every event of their tickets (a ticket's windows need all its contacts)
in_scope as (

    select interactions.*
    from interactions
    where interactions.interaction_id in (select interaction_id from changed)
       or exists (
            select 1
            from touched_tickets
            where touched_tickets.customer_id = interactions.customer_id
              and touched_tickets.ticket_id = interactions.ticket_id
       )

),

{% endif %}

ticket_contacts as (

    select
        interaction_id,
        row_number() over (partition by customer_id, ticket_id order by occurred_at, interaction_id) as contact_number,
        lag(occurred_at) over (partition by customer_id, ticket_id order by occurred_at, interaction_id) as previous_contact_at,
        lag(channel) over (partition by customer_id, ticket_id order by occurred_at, interaction_id) as previous_channel
    from in_scope
    where ticket_id is not null
      and is_inbound
      and interaction_type in ('support_ticket', 'complaint')

),

enriched as (

    select
        in_scope.*,
        coalesce(ticket_contacts.contact_number, 0) as contact_number,
        case
            when ticket_contacts.previous_contact_at is not null
             and in_scope.occurred_at < {{ dbt.dateadd('day', 7, 'ticket_contacts.previous_contact_at') }}
            then 1 else 0
        end as is_repeat_contact,
        case
            when ticket_contacts.previous_channel is not null
             and ticket_contacts.previous_channel <> in_scope.channel
            then 1 else 0
        end as is_channel_hop
    from in_scope
    left join ticket_contacts
        on in_scope.interaction_id = ticket_contacts.interaction_id

)

select * from enriched
