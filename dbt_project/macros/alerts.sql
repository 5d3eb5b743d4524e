{#- Helpers of health_alerts. -#}

{#- How bad a band is: healthy 0, watch 1, at_risk 2, critical 3. -#}
{% macro band_severity(band_column) -%}
    case {{ band_column }} when 'healthy' then 0 when 'watch' then 1 when 'at_risk' then 2 when 'critical' then 3 end
{%- endmacro %}

{#- A value as text, for messages. -#}
{% macro as_text(expression) -%}
    cast({{ expression }} as {{ dbt.type_string() }})
{%- endmacro %}
