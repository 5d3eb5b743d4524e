-- One row per customer: the latest accepted version of each customer record.
-- The email column (personal data) stays in the raw layer.
with

source as (

    select * from {{ source('raw', 'customers') }}

),

renamed as (

    select
        ---------- ids
        customer_id,

        ---------- attributes
        lower(segment) as segment,
        lower(plan) as plan,
        region,
        account_owner,

        ---------- timestamps
        signup_at,
        updated_at,
        _ingested_at as ingested_at,

        row_number() over (
            partition by customer_id
            order by coalesce(updated_at, signup_at) desc, _ingested_at desc, _line desc
        ) as version_rank

    from source

)

select
    customer_id,
    segment,
    plan,
    region,
    account_owner,
    signup_at,
    updated_at,
    ingested_at
from renamed
where version_rank = 1
