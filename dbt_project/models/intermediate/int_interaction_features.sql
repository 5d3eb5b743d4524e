-- Engagement, support-experience and voice-of-customer features per customer and as-of date,
-- from interactions before the cutoff only.
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

interactions as (

    select * from {{ ref('int_interactions_enriched') }}

),

tickets as (

    select * from {{ ref('int_tickets') }}

),

source_has_rows as (

    select count(*) > 0 as has_rows from interactions

),

windowed as (

    select
        spine.customer_id,
        spine.as_of,
        max(case when interactions.is_inbound then interactions.occurred_at end) as last_inbound_at,
        {{ count_in_window("interactions.interaction_type = 'login'", 'interactions.occurred_at', 'spine.cutoff_at', 30) }} as logins_30d,
        {{ count_in_window("interactions.interaction_type = 'login'", 'interactions.occurred_at', 'spine.cutoff_at', 30, offset_days=30) }} as logins_prev_30d,
        {{ count_in_window("interactions.interaction_type = 'login'", 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as logins_90d,
        {{ count_in_window("interactions.interaction_type = 'login'", 'interactions.occurred_at', 'spine.cutoff_at', 180) }} as logins_180d,
        {{ count_in_window("interactions.interaction_type = 'feature_use'", 'interactions.occurred_at', 'spine.cutoff_at', 30) }} as feature_uses_30d,
        {{ count_in_window("interactions.interaction_type = 'feature_use'", 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as feature_uses_90d,
        count(distinct case when interactions.is_inbound and {{ in_window('interactions.occurred_at', 'spine.cutoff_at', 30) }}
                            then cast(interactions.occurred_at as date) end) as active_days_30d,
        {{ count_in_window('interactions.is_inbound', 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as inbound_90d,
        count(distinct case when interactions.interaction_type = 'support_ticket' and {{ in_window('interactions.occurred_at', 'spine.cutoff_at', 90) }}
                            then interactions.ticket_id end) as tickets_90d,
        {{ count_in_window('interactions.contact_number > 0', 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as ticket_contacts_90d,
        count(distinct case when interactions.contact_number > 0 and {{ in_window('interactions.occurred_at', 'spine.cutoff_at', 90) }}
                            then interactions.ticket_id end) as contacted_tickets_90d,
        {{ sum_in_window('interactions.is_repeat_contact', 'true', 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as repeat_contacts_90d,
        {{ sum_in_window('interactions.is_channel_hop', 'true', 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as channel_hops_90d,
        {{ avg_in_window('interactions.handle_seconds / 60.0', 'interactions.handle_seconds is not null', 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as avg_handle_minutes_90d,
        {{ count_in_window("interactions.interaction_type = 'complaint'", 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as complaints_90d,
        {{ avg_in_window('interactions.csat', 'interactions.csat is not null', 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as avg_csat_90d,
        {{ avg_in_window('interactions.sentiment', 'interactions.sentiment is not null', 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as avg_sentiment_90d,
        {{ avg_in_window('interactions.sentiment', 'interactions.sentiment is not null', 'interactions.occurred_at', 'spine.cutoff_at', 30) }} as avg_sentiment_30d,
        {{ count_in_window('interactions.sentiment < -0.3', 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as negative_feedback_90d,
        {{ count_in_window("interactions.is_inbound and interactions.channel = 'chat'", 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as chat_contacts_90d,
        {{ count_in_window("interactions.is_inbound and interactions.channel = 'phone'", 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as phone_contacts_90d,
        {{ count_in_window("interactions.is_inbound and interactions.channel = 'email'", 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as email_contacts_90d,
        {{ count_in_window("interactions.is_inbound and interactions.channel = 'social'", 'interactions.occurred_at', 'spine.cutoff_at', 90) }} as social_contacts_90d
    from spine
    left join interactions
        on interactions.customer_id = spine.customer_id
        and {{ in_window('interactions.occurred_at', 'spine.cutoff_at', 365) }}
    group by spine.customer_id, spine.as_of

),

latest_scores as (

    -- the most recent CSAT and NPS answers within a year before the cutoff
    select
        customer_id,
        as_of,
        max(case when kind = 'csat' and recency_rank = 1 then score end) as last_csat,
        max(case when kind = 'nps' and recency_rank = 1 then score end) as last_nps
    from (
        select
            spine.customer_id,
            spine.as_of,
            answers.kind,
            answers.score,
            row_number() over (
                partition by spine.customer_id, spine.as_of, answers.kind
                order by answers.occurred_at desc, answers.interaction_id desc
            ) as recency_rank
        from spine
        inner join (
            select customer_id, interaction_id, occurred_at, 'csat' as kind, csat as score
            from interactions where csat is not null
            union all
            select customer_id, interaction_id, occurred_at, 'nps' as kind, nps as score
            from interactions where nps is not null
        ) as answers
            on answers.customer_id = spine.customer_id
            and {{ in_window('answers.occurred_at', 'spine.cutoff_at', 365) }}
    ) as ranked
    group by customer_id, as_of

),

open_tickets as (

    select
        spine.customer_id,
        spine.as_of,
        count(*) as open_tickets
    from spine
    inner join tickets
        on tickets.customer_id = spine.customer_id
        and {{ in_window('tickets.opened_at', 'spine.cutoff_at', 90) }}
        and (tickets.resolved_at is null or tickets.resolved_at >= spine.cutoff_at)
    group by spine.customer_id, spine.as_of

),

features as (

    select
        windowed.customer_id,
        windowed.as_of,
        {{ observed('windowed.logins_30d', 'source_has_rows.has_rows') }} as logins_30d,
        {{ observed('windowed.logins_prev_30d', 'source_has_rows.has_rows') }} as logins_prev_30d,
        {{ observed('windowed.logins_30d - windowed.logins_prev_30d', 'source_has_rows.has_rows') }} as login_change_30d,
        {{ observed('windowed.logins_90d', 'source_has_rows.has_rows') }} as logins_90d,
        {{ observed('windowed.logins_180d', 'source_has_rows.has_rows') }} as logins_180d,
        {{ observed('windowed.feature_uses_30d', 'source_has_rows.has_rows') }} as feature_uses_30d,
        {{ observed('windowed.feature_uses_90d', 'source_has_rows.has_rows') }} as feature_uses_90d,
        {{ observed('windowed.active_days_30d', 'source_has_rows.has_rows') }} as active_days_30d,
        {{ observed('windowed.inbound_90d', 'source_has_rows.has_rows') }} as inbound_90d,
        {{ observed(dbt.datediff('windowed.last_inbound_at', 'spine.cutoff_at', 'day'), 'source_has_rows.has_rows') }} as days_since_last_inbound,
        {{ observed('windowed.tickets_90d', 'source_has_rows.has_rows') }} as tickets_90d,
        cast(windowed.ticket_contacts_90d as {{ type_double() }}) / nullif(windowed.contacted_tickets_90d, 0) as contacts_per_ticket_90d,
        {{ observed('windowed.repeat_contacts_90d', 'source_has_rows.has_rows') }} as repeat_contacts_90d,
        {{ observed('windowed.channel_hops_90d', 'source_has_rows.has_rows') }} as channel_hops_90d,
        windowed.avg_handle_minutes_90d,
        {{ observed('coalesce(open_tickets.open_tickets, 0)', 'source_has_rows.has_rows') }} as open_tickets,
        {{ observed('windowed.complaints_90d', 'source_has_rows.has_rows') }} as complaints_90d,
        windowed.avg_csat_90d,
        latest_scores.last_csat,
        latest_scores.last_nps,
        windowed.avg_sentiment_90d,
        windowed.avg_sentiment_30d,
        {{ observed('windowed.negative_feedback_90d', 'source_has_rows.has_rows') }} as negative_feedback_90d,
        {{ observed('windowed.chat_contacts_90d', 'source_has_rows.has_rows') }} as chat_contacts_90d,
        {{ observed('windowed.phone_contacts_90d', 'source_has_rows.has_rows') }} as phone_contacts_90d,
        {{ observed('windowed.email_contacts_90d', 'source_has_rows.has_rows') }} as email_contacts_90d,
        {{ observed('windowed.social_contacts_90d', 'source_has_rows.has_rows') }} as social_contacts_90d
    from windowed
    inner join spine
        on windowed.customer_id = spine.customer_id
        and windowed.as_of = spine.as_of
    cross join source_has_rows
    left join latest_scores
        on windowed.customer_id = latest_scores.customer_id
        and windowed.as_of = latest_scores.as_of
    left join open_tickets
        on windowed.customer_id = open_tickets.customer_id
        and windowed.as_of = open_tickets.as_of

)

select * from features
