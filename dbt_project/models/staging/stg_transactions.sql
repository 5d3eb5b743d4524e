with

source as (

    select * from {{ source('raw', 'transactions') }}

),

renamed as (

    select
        ---------- ids
        transaction_id,
        customer_id,

        ---------- properties
        type as transaction_type,
        currency,
        product,
        channel,

        ---------- numerics
        amount,
        -- refunds arrive with either sign; spend counts them as money going back
        case
            when type = 'refund' then -abs(coalesce(amount, 0))
            when type = 'cancellation' then 0
            else coalesce(amount, 0)
        end as net_amount,

        ---------- booleans
        type in ('purchase', 'subscription_payment') as is_payment,

        ---------- timestamps
        occurred_at,
        -- when the batch was ingested: the watermark of the incremental event models
        _ingested_at as loaded_at

    from source

)

select * from renamed
