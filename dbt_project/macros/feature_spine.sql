{#
    feature_spine(): which as-of dates the feature models build, from the environment variable
    CUSTOMER_HEALTH_FEATURE_SPINE that the pipeline sets for each dbt call:
      full     every monthly as-of date plus the scoring date (what training needs); the default
      scoring  the scoring date only, merged into the feature mart beside the training rows of
               the last full build (a refresh scored by the live model)
    Read only when models run, never while dbt parses the project: an environment variable read
    at parse time ties the saved parse to its value, and every switch of spine (a full run, then
    refreshes) re-parsed the models that read it, about 1.5 s of each refresh at W10. So nothing
    that is fixed at parse time (a model's config, its refs) may depend on the spine.
#}
{% macro feature_spine() -%}
    {%- if not execute -%}
        {{ return('full') }}
    {%- endif -%}
    {%- set spine = env_var('CUSTOMER_HEALTH_FEATURE_SPINE', 'full') -%}
    {%- if spine not in ('full', 'scoring') -%}
        {{ exceptions.raise_compiler_error("CUSTOMER_HEALTH_FEATURE_SPINE must be 'full' or 'scoring', not '" ~ spine ~ "'") }}
    {%- endif -%}
    {{ return(spine) }}
{%- endmacro %}
