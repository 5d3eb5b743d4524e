-- Support experience per customer and as-of date: how many cases the customer opened, how
-- quickly and at what first try they were solved, whether the customer had to come back or
-- switch channel, all before the cutoff, and how the times compare with the customer's peers
-- (the peer_group attribute, segment by default) on the same date.
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

customers as (

    select * from {{ ref('int_customers_unified') }}

),

-- ticket contacts, plus complaints that arrive outside a ticket
contacts as (

    select
        *,
        contact_number > 0 as is_ticket_contact
    from {{ ref('int_interactions_enriched') }}
    where contact_number > 0
       or (interaction_type = 'complaint' and is_inbound)

),

tickets as (

    select * from {{ ref('int_tickets') }}

),

coverage as (

    select * from {{ ref('int_source_coverage') }}

),

contact_windows as (

    select
        spine.customer_id,
        spine.as_of,
        {{ count_in_window('contacts.is_ticket_contact', 'contacts.occurred_at', 'spine.cutoff_at', 90) }} as contacts_90d,
        count(distinct case when contacts.is_ticket_contact and {{ in_window('contacts.occurred_at', 'spine.cutoff_at', 90) }}
                            then contacts.ticket_id end) as contacted_tickets_90d,
        {{ count_in_window("contacts.interaction_type = 'complaint'", 'contacts.occurred_at', 'spine.cutoff_at', 90) }} as complaints_90d,
        {%- for days in (90, 365) %}
        {{ count_in_window('contacts.is_repeat_contact = 1', 'contacts.occurred_at', 'spine.cutoff_at', days) }} as repeat_contacts_{{ days }}d,
        {{ count_in_window('contacts.is_channel_hop = 1', 'contacts.occurred_at', 'spine.cutoff_at', days) }} as channel_hops_{{ days }}d,
        {%- endfor %}
        {%- for channel in ('chat', 'phone', 'email', 'social') %}
        {{ count_in_window("contacts.is_ticket_contact and contacts.channel = '" ~ channel ~ "'", 'contacts.occurred_at', 'spine.cutoff_at', 90) }} as {{ channel }}_contacts_90d,
        {%- endfor %}
        {{ avg_in_window('contacts.handle_seconds / 60.0', 'contacts.is_ticket_contact and contacts.handle_seconds is not null', 'contacts.occurred_at', 'spine.cutoff_at', 90) }} as avg_handle_minutes_90d
    from spine
    left join contacts
        on contacts.customer_id = spine.customer_id
        and {{ in_window('contacts.occurred_at', 'spine.cutoff_at', 365) }}
    group by spine.customer_id, spine.as_of

),

ticket_windows as (

    select
        spine.customer_id,
        spine.as_of,
        {{ count_in_window('true', 'tickets.opened_at', 'spine.cutoff_at', 90) }} as tickets_opened_90d,
        {{ count_in_window('true', 'tickets.opened_at', 'spine.cutoff_at', 365) }} as tickets_opened_365d,
        {{ count_in_window('true', 'tickets.resolved_at', 'spine.cutoff_at', 90) }} as tickets_resolved_90d,
        {{ count_in_window('tickets.contacts_to_resolve = 1', 'tickets.resolved_at', 'spine.cutoff_at', 90) }} as resolved_first_contact_90d,
        {{ avg_in_window(dbt.datediff('tickets.opened_at', 'tickets.resolved_at', 'minute') ~ ' / 60.0', 'true', 'tickets.resolved_at', 'spine.cutoff_at', 90) }} as avg_resolution_hours_90d,
        -- cases opened within the year and not resolved by the cutoff
        sum(case when tickets.opened_at < spine.cutoff_at
                  and (tickets.resolved_at is null or tickets.resolved_at >= spine.cutoff_at)
                 then 1 else 0 end) as open_tickets
    from spine
    left join tickets
        on tickets.customer_id = spine.customer_id
        and {{ in_window('tickets.opened_at', 'spine.cutoff_at', 365) }}
    group by spine.customer_id, spine.as_of

),

with_peers as (

    select
        contact_windows.*,
        ticket_windows.tickets_opened_90d,
        ticket_windows.tickets_opened_365d,
        ticket_windows.tickets_resolved_90d,
        ticket_windows.resolved_first_contact_90d,
        ticket_windows.avg_resolution_hours_90d,
        ticket_windows.open_tickets,
        {{ observed_days('spine.observed_from', 'spine.cutoff_at', 365) }} as observed_days_365d,
        -- exact numerics: a parallel floating-point average differs in the last bits between runs
        cast(avg(cast(contact_windows.avg_handle_minutes_90d as {{ dbt.type_numeric() }})) over (
            partition by contact_windows.as_of, customers.{{ var('peer_group') }}) as {{ type_double() }}) as peer_handle_minutes_90d,
        cast(avg(cast(ticket_windows.avg_resolution_hours_90d as {{ dbt.type_numeric() }})) over (
            partition by contact_windows.as_of, customers.{{ var('peer_group') }}) as {{ type_double() }}) as peer_resolution_hours_90d
    from contact_windows
    inner join ticket_windows
        on contact_windows.customer_id = ticket_windows.customer_id
        and contact_windows.as_of = ticket_windows.as_of
    inner join spine
        on contact_windows.customer_id = spine.customer_id
        and contact_windows.as_of = spine.as_of
    inner join customers
        on contact_windows.customer_id = customers.customer_id

),

features as (

    select
        with_peers.customer_id,
        with_peers.as_of,
        {{ observed('with_peers.tickets_opened_90d', 'coverage.has_tickets') }} as tickets_opened_90d,
        {{ observed('30.0 * with_peers.tickets_opened_365d / with_peers.observed_days_365d', 'coverage.has_tickets') }} as tickets_per_month_365d,
        {{ observed('with_peers.tickets_resolved_90d', 'coverage.has_resolutions') }} as tickets_resolved_90d,
        {{ observed('with_peers.open_tickets', 'coverage.has_resolutions') }} as open_tickets,
        with_peers.avg_resolution_hours_90d,
        with_peers.avg_resolution_hours_90d / nullif(with_peers.peer_resolution_hours_90d, 0) as resolution_vs_peers_90d,
        cast(with_peers.resolved_first_contact_90d as {{ type_double() }})
            / nullif(with_peers.tickets_resolved_90d, 0) as first_contact_resolution_90d,
        cast(with_peers.contacts_90d as {{ type_double() }})
            / nullif(with_peers.contacted_tickets_90d, 0) as contacts_per_ticket_90d,
        {{ observed('with_peers.repeat_contacts_90d', 'coverage.has_tickets') }} as repeat_contacts_90d,
        {{ observed('with_peers.repeat_contacts_365d', 'coverage.has_tickets') }} as repeat_contacts_365d,
        {{ observed('with_peers.channel_hops_90d', 'coverage.has_tickets') }} as channel_hops_90d,
        {{ observed('with_peers.channel_hops_365d', 'coverage.has_tickets') }} as channel_hops_365d,
        with_peers.avg_handle_minutes_90d,
        with_peers.avg_handle_minutes_90d / nullif(with_peers.peer_handle_minutes_90d, 0) as handle_time_vs_peers_90d,
        {{ observed('with_peers.complaints_90d', 'coverage.has_interactions') }} as complaints_90d,
        {%- for channel in ('chat', 'phone', 'email', 'social') %}
        {{ observed('with_peers.' ~ channel ~ '_contacts_90d', 'coverage.has_tickets') }} as {{ channel }}_contacts_90d{{ "," if not loop.last }}
        {%- endfor %}
    from with_peers
    cross join coverage

)

select * from features
