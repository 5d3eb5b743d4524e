{#
    feature_spine(): which as-of dates the feature models build, from the environment variable
    CUSTOMER_HEALTH_FEATURE_SPINE that the pipeline sets for each dbt call (an environment
    variable rather than a var, so switching it re-parses only the two models that read it):
      full     every monthly as-of date plus the scoring date (what training needs); the default
      scoring  the scoring date only, merged into the feature mart beside the training rows of
               the last full build (a refresh scored by the live model)
#}
{% macro feature_spine() -%}
    {%- set spine = env_var('CUSTOMER_HEALTH_FEATURE_SPINE', 'full') -%}
    {%- if spine not in ('full', 'scoring') -%}
        {{ exceptions.raise_compiler_error("CUSTOMER_HEALTH_FEATURE_SPINE must be 'full' or 'scoring', not '" ~ spine ~ "'") }}
    {%- endif -%}
    {{ return(spine) }}
{%- endmacro %}
