{#
    should_full_refresh(): dbt's own rule (the model's full_refresh config, else --full-refresh),
    except for models with meta.full_refresh_with_full_spine: those are rebuilt whole by a
    full-spine build and updated in place by a scoring-spine build, whatever the flag says. The
    spine is only known when the model runs (see feature_spine), so a config value, fixed when
    dbt parses the model, cannot say it.
#}
{% macro should_full_refresh() -%}
    {%- if (config.get('meta') or {}).get('full_refresh_with_full_spine') -%}
        {{ return(feature_spine() == 'full') }}
    {%- endif -%}
    {{ return(dbt.should_full_refresh()) }}
{%- endmacro %}
