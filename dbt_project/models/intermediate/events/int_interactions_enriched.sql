-- Interactions with their place in a support case (int_ticket_contacts): the contact number on
-- the ticket, whether the contact repeats one within 7 days, and whether the customer had to
-- switch channel; 0 for interactions that are not ticket contacts.
--
-- A view: storing every interaction a second time cost more than joining the few ticket
-- contacts where the rows are read (the models that read it filter and aggregate first).
{{ config(materialized='view') }}

with

interactions as (

    select * from {{ ref('stg_interactions') }}

),

contacts as (

    select * from {{ ref('int_ticket_contacts') }}

),

enriched as (

    select
        interactions.*,
        coalesce(contacts.contact_number, 0) as contact_number,
        coalesce(contacts.is_repeat_contact, 0) as is_repeat_contact,
        coalesce(contacts.is_channel_hop, 0) as is_channel_hop
    from interactions
    left join contacts
        on interactions.interaction_id = contacts.interaction_id

)

select * from enriched
