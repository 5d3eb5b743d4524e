{#- The recommended action for a customer's main risk dimension, from the playbook in config. -#}
{% macro playbook_action(dimension_column) -%}
    {%- set playbook = var('playbook') -%}
    case {{ dimension_column }}
    {%- for dimension, action in playbook.items() if dimension != 'default' %}
        when '{{ dimension }}' then '{{ action | replace("'", "''") }}'
    {%- endfor %}
        else '{{ playbook.get("default", "Review the account with the account owner.") | replace("'", "''") }}'
    end
{%- endmacro %}

{#- Health band from a 0-100 health score and the thresholds in config. -#}
{% macro health_band(score_column) -%}
    case
        when {{ score_column }} >= {{ var('band_healthy') }} then 'healthy'
        when {{ score_column }} >= {{ var('band_watch') }} then 'watch'
        when {{ score_column }} >= {{ var('band_at_risk') }} then 'at_risk'
        else 'critical'
    end
{%- endmacro %}
