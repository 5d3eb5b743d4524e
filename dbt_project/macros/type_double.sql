{#- A 64-bit float. dbt.type_float() is a 32-bit REAL on DuckDB, too coarse for money sums. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'customer_health')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}
