-- One row per customer and day with any interaction the customer started: how many, and how
-- many of them were logins and feature uses. Engagement windows read these days instead of
-- every event (an order of magnitude fewer rows); a day belongs to the as-of dates from that
-- day on, so the point-in-time boundary is the same as the events'.
with

interactions as (

    select * from {{ ref('int_interactions_enriched') }}
    where is_inbound

),

days as (

    select
        customer_id,
        cast(occurred_at as date) as activity_date,
        count(*) as inbound,
        sum(case when interaction_type = 'login' then 1 else 0 end) as logins,
        sum(case when interaction_type = 'feature_use' then 1 else 0 end) as feature_uses,
        min(occurred_at) as first_inbound_at,
        max(occurred_at) as last_inbound_at
    from interactions
    group by customer_id, cast(occurred_at as date)

)

select * from days
