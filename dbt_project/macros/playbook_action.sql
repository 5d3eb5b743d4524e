{#- The recommended action from the playbook in config for a customer's strongest risk driver:
    the entry of the driver's feature if there is one, else the entry of its dimension, else
    the default. Keys are feature names (ml/features.yml), the four dimensions or default. -#}
{% macro playbook_action(dimension_column, feature_column=none) -%}
    {%- set playbook = var('playbook') -%}
    {%- set dimensions = ['engagement', 'experience', 'voice', 'value'] -%}
    case
    {%- if feature_column is not none %}
    {%- for key, action in playbook.items() if key != 'default' and key not in dimensions %}
        when {{ feature_column }} = '{{ key | replace("'", "''") }}' then '{{ action | replace("'", "''") }}'
    {%- endfor %}
    {%- endif %}
    {%- for key, action in playbook.items() if key in dimensions %}
        when {{ dimension_column }} = '{{ key }}' then '{{ action | replace("'", "''") }}'
    {%- endfor %}
        else '{{ playbook.get("default", "Review the account with the account owner.") | replace("'", "''") }}'
    end
{%- endmacro %}

{#- The band of a 0-100 health score under one set of thresholds. -#}
{% macro band_case(score_column, healthy, watch, at_risk) -%}
    case
        when {{ score_column }} >= {{ healthy }} then 'healthy'
        when {{ score_column }} >= {{ watch }} then 'watch'
        when {{ score_column }} >= {{ at_risk }} then 'at_risk'
        else 'critical'
    end
{%- endmacro %}

{#- Health band from a 0-100 health score and the thresholds in config: the customer's segment's
    own thresholds (bands.by_segment, matched without regard to case) when it has some, else the
    defaults. -#}
{% macro health_band(score_column, segment_column=none) -%}
    {%- set by_segment = var('band_by_segment', {}) or {} -%}
    {%- set default_band = band_case(score_column, var('band_healthy'), var('band_watch'), var('band_at_risk')) -%}
    {%- if segment_column is none or not by_segment -%}
    {{ default_band }}
    {%- else -%}
    case
    {%- for segment, t in by_segment.items() %}
        when lower({{ segment_column }}) = '{{ segment | lower | replace("'", "''") }}'
            then {{ band_case(score_column, t['healthy'], t['watch'], t['at_risk']) }}
    {%- endfor %}
        else {{ default_band }}
    end
    {%- endif -%}
{%- endmacro %}
