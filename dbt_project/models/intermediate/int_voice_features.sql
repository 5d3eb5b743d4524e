-- Voice of the customer per customer and as-of date: what the customer told us before the
-- cutoff (CSAT, NPS, sentiment of their words, complaint topics), its level and its trend.
-- Feedback that was never given is null, never zero.
with

spine as (

    select * from {{ ref('int_customer_spine') }}

),

interactions as (

    select * from {{ ref('stg_interactions') }}

),

-- every answer or message that carries a rating or a sentiment
feedback as (

    select
        customer_id,
        interaction_id,
        occurred_at,
        csat,
        nps,
        sentiment,
        case when sentiment < -0.3 or csat <= 2 or nps <= 6 then 1 else 0 end as is_negative
    from interactions
    where csat is not null or nps is not null or sentiment is not null

),

-- what the customer raised: topics of complaints and support cases
raised_topics as (

    select customer_id, occurred_at, topic
    from interactions
    where topic is not null
      and is_inbound
      and interaction_type in ('complaint', 'support_ticket')

),

windowed as (

    select
        spine.customer_id,
        spine.as_of,
        {{ avg_in_window('feedback.csat', 'feedback.csat is not null', 'feedback.occurred_at', 'spine.cutoff_at', 90) }} as avg_csat_90d,
        {{ avg_in_window('feedback.csat', 'feedback.csat is not null', 'feedback.occurred_at', 'spine.cutoff_at', 90, offset_days=90) }} as avg_csat_prev_90d,
        {{ avg_in_window('feedback.nps', 'feedback.nps is not null', 'feedback.occurred_at', 'spine.cutoff_at', 365) }} as avg_nps_365d,
        {%- for days in (30, 90, 365) %}
        {{ avg_in_window('feedback.sentiment', 'feedback.sentiment is not null', 'feedback.occurred_at', 'spine.cutoff_at', days) }} as avg_sentiment_{{ days }}d,
        {%- endfor %}
        {{ avg_in_window('feedback.sentiment', 'feedback.sentiment is not null', 'feedback.occurred_at', 'spine.cutoff_at', 90, offset_days=90) }} as avg_sentiment_prev_90d,
        {{ count_in_window('true', 'feedback.occurred_at', 'spine.cutoff_at', 90) }} as feedback_90d,
        {{ count_in_window('feedback.is_negative = 1', 'feedback.occurred_at', 'spine.cutoff_at', 90) }} as negative_feedback_90d
    from spine
    left join feedback
        on feedback.customer_id = spine.customer_id
        and {{ in_window('feedback.occurred_at', 'spine.cutoff_at', 365) }}
    group by spine.customer_id, spine.as_of

),

latest_answers as (

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
            from feedback where csat is not null
            union all
            select customer_id, interaction_id, occurred_at, 'nps' as kind, nps as score
            from feedback where nps is not null
        ) as answers
            on answers.customer_id = spine.customer_id
            and {{ in_window('answers.occurred_at', 'spine.cutoff_at', 365) }}
    ) as ranked
    group by customer_id, as_of

),

top_topics as (

    -- the topic raised most often in the last 180 days (ties: the most recent, then by name)
    select customer_id, as_of, topic as top_complaint_topic_180d
    from (
        select
            spine.customer_id,
            spine.as_of,
            raised_topics.topic,
            row_number() over (
                partition by spine.customer_id, spine.as_of
                order by count(*) desc, max(raised_topics.occurred_at) desc, raised_topics.topic
            ) as topic_rank
        from spine
        inner join raised_topics
            on raised_topics.customer_id = spine.customer_id
            and {{ in_window('raised_topics.occurred_at', 'spine.cutoff_at', 180) }}
        group by spine.customer_id, spine.as_of, raised_topics.topic
    ) as ranked
    where topic_rank = 1

),

features as (

    select
        windowed.customer_id,
        windowed.as_of,
        latest_answers.last_csat,
        windowed.avg_csat_90d,
        windowed.avg_csat_90d - windowed.avg_csat_prev_90d as csat_change_90d,
        latest_answers.last_nps,
        case
            when latest_answers.last_nps >= 9 then 'promoter'
            when latest_answers.last_nps >= 7 then 'passive'
            when latest_answers.last_nps >= 0 then 'detractor'
        end as nps_category,
        windowed.avg_nps_365d,
        windowed.avg_sentiment_30d,
        windowed.avg_sentiment_90d,
        windowed.avg_sentiment_365d,
        windowed.avg_sentiment_90d - windowed.avg_sentiment_prev_90d as sentiment_change_90d,
        case when windowed.feedback_90d > 0 then windowed.negative_feedback_90d end as negative_feedback_90d,
        cast(windowed.negative_feedback_90d as {{ type_double() }})
            / nullif(windowed.feedback_90d, 0) as negative_feedback_share_90d,
        top_topics.top_complaint_topic_180d
    from windowed
    left join latest_answers
        on windowed.customer_id = latest_answers.customer_id
        and windowed.as_of = latest_answers.as_of
    left join top_topics
        on windowed.customer_id = top_topics.customer_id
        and windowed.as_of = top_topics.as_of

)

select * from features
