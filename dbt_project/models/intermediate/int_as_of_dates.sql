-- The as-of dates of the spine: month ends (every spine_interval_months) from the first month
-- of data up to the scoring date, plus the scoring date itself. A date's label is observed
-- when two churn horizons after it lie before the scoring date (see int_churn_labels).
-- The default scoring date is the latest date every feed has reached: when one feed lags,
-- scoring past its end would read its silence as customers going quiet.
with

transactions as (

    select * from {{ ref('stg_transactions') }}

),

interactions as (

    select * from {{ ref('stg_interactions') }}

),

feed_bounds as (

    select 'transactions' as feed, min(occurred_at) as first_at, max(occurred_at) as last_at
    from transactions
    union all
    select 'interactions' as feed, min(occurred_at) as first_at, max(occurred_at) as last_at
    from interactions

),

bounds as (

    -- feeds without any row do not hold the date back
    select
        cast(min(first_at) as date) as first_event_date,
        cast(min(last_at) as date) as last_event_date
    from feed_bounds
    where last_at is not null

),

scoring_date as (

    select
        first_event_date,
        last_event_date,
        {% if var('as_of') -%}
        cast('{{ var("as_of") }}' as date) as scoring_as_of
        {%- else -%}
        last_event_date as scoring_as_of
        {%- endif %}
    from bounds

),

month_numbers as (

    {{ dbt.generate_series(600) }}

),

month_ends as (

    select
        cast(
            {{ dbt.last_day(
                dbt.dateadd('month', '(month_numbers.generated_number - 1) * ' ~ var('spine_interval_months'),
                            dbt.date_trunc('month', 'scoring_date.first_event_date')),
                'month') }}
            as date
        ) as as_of,
        scoring_date.first_event_date,
        scoring_date.last_event_date,
        scoring_date.scoring_as_of
    from month_numbers
    cross join scoring_date

),

as_of_dates as (

    {% if feature_spine() == 'full' -%}
    select as_of, false as is_scoring_date, scoring_as_of, first_event_date
    from month_ends
    where as_of < scoring_as_of
      -- at least one month of history before the first as-of date
      and as_of >= {{ dbt.dateadd('day', 28, 'first_event_date') }}

    union all
    {%- endif %}

    select scoring_as_of as as_of, true as is_scoring_date, scoring_as_of, first_event_date
    from scoring_date

),

final as (

    select
        as_of,
        cast({{ dbt.dateadd('day', 1, 'as_of') }} as {{ dbt.type_timestamp() }}) as cutoff_at,
        is_scoring_date,
        -- the first day of data: windows reaching further back are not observed
        cast(first_event_date as {{ dbt.type_timestamp() }}) as data_start_at,
        -- a lapse must be seen for a whole horizon after the horizon it starts in, and only
        -- outcomes known on the scoring date count (a backfill trains as it could have then)
        {{ dbt.dateadd('day', 2 * var('horizon_days'), 'as_of') }} <= scoring_as_of as label_observed
    from as_of_dates

)

select * from final
