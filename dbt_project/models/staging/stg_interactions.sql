with

source as (

    select * from {{ source('raw', 'interactions') }}

),

renamed as (

    select
        ---------- ids
        interaction_id,
        customer_id,
        ticket_id,

        ---------- properties
        channel,
        type as interaction_type,
        direction,
        topic,

        ---------- numerics
        handle_seconds,
        csat,
        nps,
        sentiment,

        ---------- booleans
        -- a missing direction is inferred from the type: customers start these themselves
        coalesce(
            direction = 'inbound',
            type in ('support_ticket', 'complaint', 'survey_response', 'login', 'feature_use')
        ) as is_inbound,

        ---------- timestamps
        occurred_at,
        -- when the batch was ingested: the watermark of the incremental event models
        _ingested_at as loaded_at

    from source

)

select * from renamed
