{#- Point-in-time windows: an event counts for an as-of date when it happened before the
    cutoff (the start of the day after as_of) and inside the look-back window.
    With inclusive=true the bound is a day (as_of itself) and daily rows up to it count. -#}

{% macro in_window(event_at, cutoff_at, days, offset_days=0, inclusive=false) -%}
    {%- if inclusive -%}
    ({{ event_at }} <= {{ dbt.dateadd('day', -offset_days, cutoff_at) }}
     and {{ event_at }} > {{ dbt.dateadd('day', -(days + offset_days), cutoff_at) }})
    {%- else -%}
    ({{ event_at }} < {{ dbt.dateadd('day', -offset_days, cutoff_at) }}
     and {{ event_at }} >= {{ dbt.dateadd('day', -(days + offset_days), cutoff_at) }})
    {%- endif -%}
{%- endmacro %}

{% macro count_in_window(condition, event_at, cutoff_at, days, offset_days=0, inclusive=false) -%}
    sum(case when {{ condition }} and {{ in_window(event_at, cutoff_at, days, offset_days, inclusive) }} then 1 else 0 end)
{%- endmacro %}

{#- Sums and averages go through an exact numeric type: parallel floating point sums differ in
    the last bits from run to run, and identical data must give identical features. -#}
{% macro sum_in_window(value, condition, event_at, cutoff_at, days, offset_days=0, inclusive=false) -%}
    cast(sum(case when {{ condition }} and {{ in_window(event_at, cutoff_at, days, offset_days, inclusive) }}
                  then cast({{ value }} as {{ dbt.type_numeric() }}) else 0 end) as {{ type_double() }})
{%- endmacro %}

{% macro avg_in_window(value, condition, event_at, cutoff_at, days, offset_days=0) -%}
    cast(avg(case when {{ condition }} and {{ in_window(event_at, cutoff_at, days, offset_days) }}
                  then cast({{ value }} as {{ dbt.type_numeric() }}) end) as {{ type_double() }})
{%- endmacro %}

{#- Null (not observed) instead of zero when the business sends no data of that kind at all. -#}
{% macro observed(expression, source_has_rows) -%}
    case when {{ source_has_rows }} then {{ expression }} end
{%- endmacro %}

{#- Weight of activity in the exponentially decayed activity score: 1 on the as-of day, halving
    every activity_half_life_days before it. Cast to an exact numeric so sums are reproducible. -#}
{% macro decay_weight(age_days) -%}
    cast(power(0.5, {{ age_days }} / (1.0 * {{ var('activity_half_life_days') }})) as {{ dbt.type_numeric() }})
{%- endmacro %}

{#- Days of a look-back window that are observed: a customer who signed up 40 days ago (or
    data that starts 40 days ago) fills 40 days of a 365-day window, so rates over the window
    are not biased against new customers or the first months of data. -#}
{% macro observed_days(observed_from, cutoff_at, days) -%}
    greatest(least({{ days }}, {{ dbt.datediff(observed_from, cutoff_at, 'day') }}), 1)
{%- endmacro %}
